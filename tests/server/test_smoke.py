async def test_event_zone_gate_ticket(organiser, event, zone, gate, ticket):
    assert ticket["secret"]
    found = await organiser.get(f"/api/v1/events/{event['id']}/tickets?q=王")
    assert found["tickets"][0]["id"] == ticket["id"]
