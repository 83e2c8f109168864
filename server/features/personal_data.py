"""What Muster holds about one attendee, and the event's whole export before a shred.

``ticket_record`` gathers one ticket's data (the answer to "what do you
hold about me?"): the ticket, its scans with times and gates, the mails
sent to them, the incidents whose text names them, the evacuation rolls
they were on. ``record_csv`` flattens it to one CSV (section, row, field,
value) so a person without a JSON viewer can read it.

``event_archive`` is the zip of CSVs an organiser downloads before the
shred: every table the shred empties, as it stands.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select

from server.db import Database
from server.features import spreadsheet
from server.features.export_words import BOOLEAN, ExportWords, worded_table
from server.features.issuance import BLANK_STATUS
from server.features.retention import needles_of
from server.models import (
    Alert,
    Broadcast,
    Evacuation,
    EvacuationPerson,
    Gate,
    Incident,
    IncidentLogEntry,
    MailDelivery,
    Scan,
    StaffMember,
    StockMovement,
    Ticket,
    TicketType,
    WalkIn,
)
from server.serialize import iso, ticket_json


async def ticket_record(db: Database, ticket_id: int) -> dict[str, Any]:
    """Everything held about the holder of one ticket (the ticket must exist)."""
    async with db.reading() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        type_name = await session.scalar(
            select(TicketType.name).where(TicketType.id == ticket.type_id)
        )
        gates = dict(
            (
                await session.execute(
                    select(Gate.id, Gate.name).where(Gate.event_id == ticket.event_id)
                )
            ).all()
        )
        scans = (
            await session.scalars(
                select(Scan).where(Scan.ticket_id == ticket_id).order_by(Scan.scanned_at)
            )
        ).all()
        mails = (
            await session.scalars(
                select(MailDelivery)
                .where(MailDelivery.ticket_id == ticket_id)
                .order_by(MailDelivery.id)
            )
        ).all()
        needles = needles_of(ticket)
        incidents: Sequence[Incident] = []
        comments: Sequence[IncidentLogEntry] = []
        if needles:
            incidents = (
                await session.scalars(
                    select(Incident)
                    .where(
                        Incident.event_id == ticket.event_id,
                        _names(
                            needles, Incident.title, Incident.description, Incident.location_text
                        ),
                    )
                    .order_by(Incident.id)
                )
            ).all()
            comments = (
                await session.scalars(
                    select(IncidentLogEntry)
                    .where(
                        IncidentLogEntry.event_id == ticket.event_id,
                        _names(needles, IncidentLogEntry.text),
                    )
                    .order_by(IncidentLogEntry.id)
                )
            ).all()
        # Registered at a door: what the phone sent (the phone number lives only here).
        walk_ins = (
            await session.scalars(
                select(WalkIn).where(WalkIn.ticket_id == ticket_id).order_by(WalkIn.id)
            )
        ).all()
        rolls = (
            await session.execute(
                select(EvacuationPerson, Evacuation.kind, Evacuation.started_at)
                .join(Evacuation, Evacuation.id == EvacuationPerson.evacuation_id)
                .where(EvacuationPerson.ticket_id == ticket_id)
                .order_by(EvacuationPerson.id)
            )
        ).all()
    return {
        "ticket": {**ticket_json(ticket, with_secret=False), "ticket_type_name": type_name or ""},
        "scans": [
            {
                "id": s.id,
                "scanned_at": iso(s.scanned_at),
                "received_at": iso(s.received_at),
                "gate": s.gate_id,
                "gate_name": gates.get(s.gate_id, "") if s.gate_id is not None else "",
                "direction": s.direction,
                "status": s.status,
                "reason": s.reason,
                "offline": s.offline,
            }
            for s in scans
        ],
        "mails": [
            {
                "mailing": m.mailing_id,
                "status": m.status,
                "sent_at": iso(m.sent_at),
                "error_code": m.error_code,
                "smtp_reply": m.smtp_reply,
            }
            for m in mails
        ],
        "incidents": [
            {
                "id": i.id,
                "created_at": iso(i.created_at),
                "category": i.category,
                "title": i.title,
                "description": i.description,
                "location": i.location_text,
            }
            for i in incidents
        ],
        "incident_comments": [
            {"incident": c.incident_id, "at": iso(c.at), "action": c.action, "text": c.text}
            for c in comments
        ],
        "walk_ins": [
            {
                "registered_at": iso(w.registered_at),
                "gate": w.gate_id,
                "name": w.holder_name,
                "email": w.holder_email,
                "phone": w.holder_phone,
                "status": w.status,
                "reason": w.reason,
                "offline": w.offline,
            }
            for w in walk_ins
        ],
        "evacuations": [
            {
                "evacuation": p.evacuation_id,
                "kind": kind,
                "started_at": iso(started),
                "name": p.name,
                "status": p.status,
                "accounted_at": iso(p.accounted_at),
                "point": p.point_id,
            }
            for p, kind, started in rolls
        ],
    }


def _names(needles: list[str], *columns: Any) -> Any:
    return or_(*(func.lower(c).contains(n.lower()) for c in columns for n in needles))


#: The coded fields of a person's record, by (section, field): their kind.
RECORD_CODES = {
    ("ticket", "status"): "ticket_status",
    ("ticket", "language"): "language",
    ("scans", "direction"): "direction",
    ("scans", "status"): "scan_status",
    ("scans", "reason"): "reason",
    ("mails", "status"): "mail_status",
    ("incidents", "category"): "category",
    ("incident_comments", "action"): "incident_log_action",
    ("evacuations", "kind"): "evacuation_kind",
    ("evacuations", "status"): "roll_status",
}


def record_csv(record: dict[str, Any], words: ExportWords | None = None) -> str:
    """One person's record as CSV: section, row, field, value (formula cells
    neutralised); with ``words`` (``?lang=``) sections, fields and coded
    values are worded (a field without a word stays as named)."""
    rows: list[Sequence[Any]] = [
        ["ticket", 1, field, value] for field, value in record["ticket"].items()
    ]
    for section, entries in record.items():
        if section == "ticket":
            continue
        for n, entry in enumerate(entries, 1):
            rows.extend([section, n, field, value] for field, value in entry.items())
    if words is None:
        return spreadsheet.table(["section", "row", "field", "value"], rows)
    worded_rows = [
        [
            words.value("record_section", section),
            n,
            words.headers.get(field, field),
            words.value(RECORD_CODES.get((section, field), BOOLEAN), value)
            if isinstance(value, bool) or (section, field) in RECORD_CODES
            else value,
        ]
        for section, n, field, value in rows
    ]
    return spreadsheet.table(
        [words.header(h) for h in ("section", "row", "field", "value")], worded_rows
    )


async def event_archive(db: Database, event_id: int, words: ExportWords | None = None) -> bytes:
    """A zip of CSVs of the event's personal data, to keep before the shred
    (in ``words``' language with them: ``?lang=``)."""
    async with db.reading() as session:
        tickets = (await session.execute(
            select(Ticket.id, Ticket.code, Ticket.holder_name, Ticket.holder_email, Ticket.language,
                   Ticket.type_id, Ticket.status, Ticket.checked_in_at)
            .where(Ticket.event_id == event_id, Ticket.status != BLANK_STATUS)
            .order_by(Ticket.id)
        )).all()  # fmt: skip
        scans = (await session.execute(
            select(Scan.id, Scan.scanned_at, Scan.ticket_id, Ticket.holder_name, Scan.gate_id,
                   Scan.direction, Scan.status, Scan.reason, Scan.offline)
            .outerjoin(Ticket, Ticket.id == Scan.ticket_id)
            .where(Scan.event_id == event_id).order_by(Scan.id)
        )).all()  # fmt: skip
        incidents = (await session.execute(
            select(Incident.id, Incident.created_at, Incident.category, Incident.severity,
                   Incident.title, Incident.description, Incident.location_text,
                   Incident.equipment_tag, Incident.reporter_name, Incident.assignee_name)
            .where(Incident.event_id == event_id).order_by(Incident.id)
        )).all()  # fmt: skip
        comments = (await session.execute(
            select(IncidentLogEntry.id, IncidentLogEntry.incident_id, IncidentLogEntry.at,
                   IncidentLogEntry.action, IncidentLogEntry.actor_name, IncidentLogEntry.text)
            .where(IncidentLogEntry.event_id == event_id).order_by(IncidentLogEntry.id)
        )).all()  # fmt: skip
        stock = (await session.execute(
            select(StockMovement.id, StockMovement.occurred_at, StockMovement.kind,
                   StockMovement.item_id, StockMovement.delta, StockMovement.reason,
                   StockMovement.actor_name)
            .where(StockMovement.event_id == event_id).order_by(StockMovement.id)
        )).all()  # fmt: skip
        mails = (await session.execute(
            select(MailDelivery.id, MailDelivery.mailing_id, MailDelivery.ticket_id,
                   MailDelivery.status, MailDelivery.sent_at, MailDelivery.error_code,
                   MailDelivery.smtp_reply)
            .where(MailDelivery.event_id == event_id).order_by(MailDelivery.id)
        )).all()  # fmt: skip
        alerts = (await session.execute(
            select(Alert.id, Alert.created_at, Alert.kind, Alert.severity, Alert.data)
            .where(Alert.event_id == event_id).order_by(Alert.id)
        )).all()  # fmt: skip
        people = (await session.execute(
            select(EvacuationPerson.evacuation_id, EvacuationPerson.ticket_id,
                   EvacuationPerson.name, EvacuationPerson.status, EvacuationPerson.accounted_at,
                   EvacuationPerson.point_id)
            .join(Evacuation, Evacuation.id == EvacuationPerson.evacuation_id)
            .where(Evacuation.event_id == event_id).order_by(EvacuationPerson.id)
        )).all()  # fmt: skip
        staff = (await session.execute(
            select(StaffMember.id, StaffMember.name, StaffMember.phone, StaffMember.team,
                   StaffMember.role, StaffMember.supervisor)
            .where(StaffMember.event_id == event_id).order_by(StaffMember.id)
        )).all()  # fmt: skip
        broadcasts = (await session.execute(
            select(Broadcast.id, Broadcast.sent_at, Broadcast.priority, Broadcast.text_zh,
                   Broadcast.text_en)
            .where(Broadcast.event_id == event_id).order_by(Broadcast.id)
        )).all()  # fmt: skip
    files = {
        "tickets.csv": worded_table(
            words,
            ["ticket_id", "code", "holder_name", "holder_email", "language", "ticket_type",
             "status", "checked_in_at"],
            {"status": "ticket_status", "language": "language"},
            [(*r[:7], iso(r[7])) for r in tickets],
        ),
        "scans.csv": worded_table(
            words,
            ["scan_id", "scanned_at", "ticket_id", "holder_name", "gate_id", "direction",
             "status", "reason", "offline"],
            {"direction": "direction", "status": "scan_status", "reason": "reason", "offline": BOOLEAN},
            [(r[0], iso(r[1]), *r[2:]) for r in scans],
        ),
        "incidents.csv": worded_table(
            words,
            ["incident_id", "created_at", "category", "severity", "title", "description",
             "location", "equipment_tag", "reporter", "assignee"],
            {"category": "category", "severity": "severity"},
            [(r[0], iso(r[1]), *r[2:]) for r in incidents],
        ),
        "incident_log.csv": worded_table(
            words,
            ["entry_id", "incident_id", "at", "action", "actor", "text"],
            {"action": "incident_log_action"},
            [(r[0], r[1], iso(r[2]), *r[3:]) for r in comments],
        ),
        "stock_movements.csv": worded_table(
            words,
            ["movement_id", "occurred_at", "kind", "item_id", "delta", "reason", "actor"],
            {"kind": "stock_kind"},
            [(r[0], iso(r[1]), *r[2:]) for r in stock],
        ),
        "mail.csv": worded_table(
            words,
            ["delivery_id", "mailing_id", "ticket_id", "status", "sent_at", "error_code",
             "smtp_reply"],
            {"status": "mail_status"},
            [(*r[:4], iso(r[4]), *r[5:]) for r in mails],
        ),
        "alerts.csv": worded_table(
            words,
            ["alert_id", "created_at", "kind", "severity", "data"],
            {"severity": "alert_severity"},
            [(r[0], iso(r[1]), *r[2:]) for r in alerts],
        ),
        "evacuation_people.csv": worded_table(
            words,
            ["evacuation_id", "ticket_id", "name", "status", "accounted_at", "point_id"],
            {"status": "roll_status"},
            [(*r[:4], iso(r[4]), r[5]) for r in people],
        ),
        "staff.csv": worded_table(
            words,
            ["staff_id", "name", "phone", "team", "role", "supervisor"],
            {"team": "team", "role": "role", "supervisor": BOOLEAN},
            staff,
        ),
        "broadcasts.csv": worded_table(
            words,
            ["broadcast_id", "sent_at", "priority", "text_zh", "text_en"],
            {"priority": "broadcast_priority"},
            [(r[0], iso(r[1]), *r[2:]) for r in broadcasts],
        ),
    }  # fmt: skip
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()
