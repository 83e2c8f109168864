"""The attacks of issue 13 beside the schemathesis run, against a real server.

``attack(server)`` sets up an event on a running ``muster serve`` and tries,
as an attacker on the venue Wi-Fi would:

- **forged and altered QR codes** at a door: every ticket's secret with one
  character changed at spread positions (only those that no longer verify
  under the event's public key count: a change in a base64 padding bit is the
  same ticket), truncated, with another event's key, and another event's
  genuine ticket — none may be admitted;
- **oversized bodies**: 100 MB streamed (chunked, no length) to the one JSON
  route that needs no token, and a declared length past the cap — 413 both,
  the server's memory flat;
- **hostile images** as incident photos: not an image, a JPEG cut short, a
  30,000² PNG decompression bomb, a JPEG past the size cap, random bytes —
  a 4xx each, no incident stored with them.

Every answer is counted by status; any 5xx or any admission is a finding.
Used by ``bench/hostile.py`` (which prints it) and ``tests/server/test_attacks.py``.
"""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image

from checkin.secrets import KeyRing, SecretError
from tests.server.test_body_limits import _rss_mb, _send_chunked
from tests.server.test_photos import png_bomb
from tests.servers import LiveServer


@dataclass
class Attacks:
    statuses: Counter[str] = field(default_factory=Counter)
    forgeries: int = 0
    #: The door's reasons for refusing them.
    reasons: Counter[str] = field(default_factory=Counter)
    admitted: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    rss_growth_mb: float = 0.0

    @property
    def found(self) -> list[str]:
        return self.server_errors + [f"admitted a forgery: {s}" for s in self.admitted]

    def summary(self) -> str:
        by_status = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        lines = [
            f"attacks: {sum(self.statuses.values())} requests ({by_status})",
            f"  forged or altered QR codes: {self.forgeries} sent, {len(self.admitted)} admitted"
            f" (refused: {', '.join(f'{r} {n}' for r, n in self.reasons.most_common())})",
            f"  100 MB streamed body: server RSS +{self.rss_growth_mb:.1f} MB",
            f"  5xx: {len(self.server_errors)}",
        ]
        lines += [f"  ! {finding}" for finding in self.found]
        return "\n".join(lines)

    def note(self, what: str, answer: httpx.Response) -> None:
        self.statuses[f"{what} {answer.status_code}"] += 1
        if answer.status_code >= 500:
            self.server_errors.append(f"{what}: {answer.status_code} {answer.text[:200]}")


def _event(api: httpx.Client, name: str, tickets: int) -> tuple[dict[str, Any], int, list[Any]]:
    now = datetime.now(UTC)
    event = api.post(
        "/api/v1/events",
        json={
            "name": name,
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=8)).isoformat(),
        },
    ).json()
    base = f"/api/v1/events/{event['id']}"
    zone = api.post(f"{base}/zones", json={"name": "Hall"}).json()
    gate = api.post(f"{base}/gates", json={"name": "Door", "to_zone": zone["id"]}).json()
    if not tickets:
        return event, gate["id"], []
    issued = api.post(
        f"{base}/tickets",
        json={"tickets": [{"holder_name": f"Guest {i}"} for i in range(tickets)]},
    ).json()["tickets"]
    return event, gate["id"], issued


def _altered(secret: str, ring: KeyRing, per_ticket: int) -> list[str]:
    """``secret`` with one character changed at ``per_ticket`` spread places,
    keeping only those that no longer verify (really forged)."""
    out = []
    step = max(1, len(secret) // per_ticket)
    for i in range(0, len(secret), step):
        swap = "A" if secret[i] != "A" else "B"
        candidate = secret[:i] + swap + secret[i + 1 :]
        try:
            ring.verify(candidate)
        except SecretError:
            out.append(candidate)
        except Exception:
            out.append(candidate)
    return out


def _keyring(api: httpx.Client, event_id: int) -> KeyRing:
    keys = api.get(f"/api/v1/events/{event_id}/offline-bundle").json()["keys"]
    return KeyRing(event_id, {k["kid"]: base64.b64decode(k["public_key"]) for k in keys})


def _door(api: httpx.Client, event_id: int, gate: int) -> str:
    code = api.post(
        f"/api/v1/events/{event_id}/pairing-codes", json={"role": "door", "gate": gate}
    ).json()["code"]
    return str(api.post("/api/v1/devices/pair", json={"code": code}).json()["token"])


def _scan(door: httpx.Client, event_id: int, gate: int, secret: str) -> httpx.Response:
    return door.post(
        f"/api/v1/events/{event_id}/scans",
        json={
            "secret": secret,
            "gate": gate,
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(UTC).isoformat(),
        },
    )


def _forgeries(server: LiveServer, found: Attacks, tickets: int, per_ticket: int) -> None:
    with server.api() as api:
        event, gate, issued = _event(api, "Attacked", tickets)
        _other, _other_gate, foreign = _event(api, "Elsewhere", 2)
        ring = _keyring(api, event["id"])
        forged: list[str] = []
        for ticket in issued:
            forged += _altered(ticket["secret"], ring, per_ticket)
            forged.append(ticket["secret"][: len(ticket["secret"]) // 2])
        # Another event's genuine tickets: signed, but not by this event's key.
        forged += [t["secret"] for t in foreign]
        token = _door(api, event["id"], gate)
    with server.api(token) as door:
        for secret in forged:
            answer = _scan(door, event["id"], gate, secret)
            found.note("scan", answer)
            if answer.status_code != 200:
                continue
            if answer.json().get("status") == "ok":
                found.admitted.append(secret[:24] + "…")
            else:
                found.reasons[str(answer.json().get("reason"))] += 1
    found.forgeries += len(forged)


def _bodies(server: LiveServer, found: Attacks) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    _send_chunked(port, 2)  # warm up
    before = _rss_mb(server)
    status, _body, _sent = _send_chunked(port, 100)
    found.rss_growth_mb = max(0.0, _rss_mb(server) - before)
    found.statuses[f"pair 100 MB {status}"] += 1
    if status != 413:
        found.server_errors.append(f"100 MB body: {status}, not 413")
    with httpx.Client(base_url=server.base_url, timeout=30) as anonymous:
        answer = anonymous.post(
            "/api/v1/devices/pair",
            content=b"x" * (1024 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        )
    found.note("pair 1 MB+1", answer)
    if answer.status_code != 413:
        found.server_errors.append(f"declared length past the cap: {answer.status_code}")


def _jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _images(server: LiveServer, found: Attacks) -> None:
    whole = _jpeg((800, 600))
    hostile = {
        "not an image": b"MZ\x90\x00 a program",
        "cut JPEG": whole[: len(whole) // 3],
        "PNG bomb": png_bomb(30_000, 30_000),
        "JPEG past the cap": b"\xff\xd8\xff" + os.urandom(11 * 1024 * 1024),
        "random bytes": os.urandom(4096),
    }
    with server.api() as api:
        event, _gate, _tickets = _event(api, "Photos", 0)
        code = api.post(
            f"/api/v1/events/{event['id']}/pairing-codes", json={"role": "staff"}
        ).json()["code"]
        token = api.post("/api/v1/devices/pair", json={"code": code}).json()["token"]
    with server.api(token) as staff:
        for name, photo in hostile.items():
            answer = staff.post(
                f"/api/v1/events/{event['id']}/incidents",
                data={
                    "category": "equipment_failure",
                    "severity": "P3",
                    "title": f"hostile image: {name}",
                    "nonce": uuid.uuid4().hex,
                    "force_new": "true",
                },
                files={"photo": ("p.jpg", photo, "image/jpeg")},
            )
            found.note("photo", answer)
            if answer.status_code < 400:
                found.server_errors.append(f"{name} accepted as a photo: {answer.status_code}")


def attack(server: LiveServer, tickets: int = 20, per_ticket: int = 50) -> Attacks:
    """Every attack above against ``server``; what it answered."""
    found = Attacks()
    _forgeries(server, found, tickets, per_ticket)
    _bodies(server, found)
    _images(server, found)
    return found
