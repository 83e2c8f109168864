"""A bounded schemathesis run against a real ``muster serve``, for
``tests/server/test_hostile.py`` and ``bench/hostile.py``.

Every operation of the server's own ``/openapi.json`` is sent a fixed number
of generated requests with the organiser's token, in three kinds:

- ``positive``: bodies and query strings that fit the document, the path
  naming real rows of a seeded venue (so a body gets past the lookup of its
  event and reaches the database);
- ``negative``: the same paths, bodies and query strings that break the
  document (wrong types, numbers out of range, missing fields), which must
  be refused with a 4xx;
- ``ids``: every id of the path in turn past 64 bits, below -2^63 and not a
  number at all, which must be 404 or 422, never a 5xx.

Each answer is checked by schemathesis for a server error, a status code the
document does not list, a content type it does not list and a body that does
not match the documented schema. Hypothesis runs derandomized with its
example database off, so a run is repeatable; a wall-clock bound stops the
run between operations (the operations left are reported, never silently
dropped).
"""

from __future__ import annotations

import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import hypothesis.errors
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, Verbosity
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import LiveServer

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

#: Path ids no database can hold, and one that is no number at all.
HOSTILE_IDS = (str(2**64), str(-(2**63) - 1), "9" * 40, "x")

#: Operations run last, in this order, as they would change the ground under
#: the others: the seeded event shredded, its ticket erased, its evacuation
#: ended, a token revoked (at the very end: it may be the run's own).
LAST = ("/shred", "/erase", "/all-clear", "/revoke", "/rotate", "/tokens/")


@dataclass
class Finding:
    operation: str
    kind: str
    status: int
    problem: str
    curl: str


@dataclass
class Findings:
    operations: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    #: Statuses by operation and kind of request.
    answers: dict[tuple[str, str], Counter[int]] = field(default_factory=dict)
    found: list[Finding] = field(default_factory=list)
    #: Operations not reached before the wall-clock bound.
    left: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def server_errors(self) -> list[Finding]:
        return [f for f in self.found if f.status >= 500]

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.found if f.status < 500]

    def summary(self) -> str:
        lines = [
            f"{self.operations} operations, {self.requests} requests in {self.seconds:.1f} s: "
            f"{sum(n for s, n in self.statuses.items() if s >= 500)} answers 5xx, "
            f"{len(self.violations)} schema violations",
            "statuses: " + ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items())),
        ]
        if self.left:
            lines.append(f"not reached in time: {', '.join(self.left)}")
        seen: set[tuple[str, str, int]] = set()
        for f in self.found:
            key = (f.operation, f.problem.splitlines()[0] if f.problem else "", f.status)
            if key in seen:
                continue
            seen.add(key)
            curl = f.curl if len(f.curl) <= 600 else f.curl[:600] + " …"
            lines.append(f"- {f.operation} [{f.kind}] {f.status}: {key[1]}\n    {curl}")
        return "\n".join(lines)


def seed_venue(server: LiveServer) -> dict[str, str]:
    """A venue with one row of each kind, by the path parameter that names it."""
    with server.api() as api:

        def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            answer = api.post(path, json=body)
            assert answer.status_code in (200, 201), (path, answer.status_code, answer.text)
            return dict(answer.json())

        event = post(
            "/api/v1/events",
            {
                "name": "Hostile",
                "starts_at": "2026-12-01T09:00:00+08:00",
                "ends_at": "2026-12-01T18:00:00+08:00",
                "timezone": "Asia/Shanghai",
            },
        )
        base = f"/api/v1/events/{event['id']}"
        zone = post(f"{base}/zones", {"name": "Hall", "capacity": 100})
        gate = post(f"{base}/gates", {"name": "North", "from_zone": None, "to_zone": zone["id"]})
        ticket_type = post(f"{base}/ticket-types", {"name": "VIP"})
        ticket = post(f"{base}/tickets", {"holder_name": "王伟", "holder_email": "w@example.com"})
        item = post(f"{base}/stock/items", {"name": "Water", "quantity": 10, "low_threshold": 2})
        incident = post(
            f"{base}/incidents",
            {"category": "equipment_failure", "title": "Gate jammed", "nonce": "n1"},
        )
        plan = post(
            f"{base}/plans", {"category": "medical", "title_en": "First aid", "steps_en": "1. Call"}
        )
        point = post(f"{base}/muster-points", {"name": "Car park", "zones": [zone["id"]]})
        pairing = post(f"{base}/pairing-codes", {"role": "door", "gate": gate["id"]})
        scan = {
            "secret": ticket["secret"],
            "gate": gate["id"],
            "direction": "in",
            "nonce": uuid.uuid4().hex,
            "scanned_at": "2026-12-01T09:30:00+08:00",
        }
        post(f"{base}/scans", scan)
    return {
        "event_id": str(event["id"]),
        "zone_id": str(zone["id"]),
        "gate_id": str(gate["id"]),
        "type_id": str(ticket_type["id"]),
        "ticket_id": str(ticket["id"]),
        "item_id": str(item["id"]),
        "incident_id": str(incident["id"]),
        "plan_id": str(plan["id"]),
        "point_id": str(point["id"]),
        "pairing_id": str(pairing.get("id", 1)),
        "nonce": scan["nonce"],
    }


def _last_exception(lines: list[str]) -> str:
    """The server's last exception line among ``lines`` (its log of a 5xx)."""
    raised = [line.strip() for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    return f" ({raised[-1][:300]})" if raised else ""


def _settings(examples: int) -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )


def explore(
    server: LiveServer,
    examples: int = 4,
    seconds: float = 120.0,
    only: Callable[[str], bool] = lambda _label: True,
) -> Findings:
    """Run every operation of ``server``'s document (those ``only`` keeps)."""
    started = time.monotonic()
    findings = Findings()
    seeded = seed_venue(server)
    auth = {"Authorization": f"Bearer {server.token}"}
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json", timeout=30)
    # Tokens are the role tests' concern (tests/server/test_rights.py): every
    # request here carries the organiser's, so each example reaches the code.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if only(op.label)]
    operations.sort(
        key=lambda op: max((i + 1 for i, w in enumerate(LAST) if w in op.path), default=0)
    )
    session = requests.Session()

    def send(case: schemathesis.Case, kind: str) -> None:
        logged = len(server.output)
        try:
            response = case.call(
                base_url=server.base_url, session=session, headers=auth, timeout=30
            )
        except requests.RequestException as exc:
            findings.found.append(Finding(case.operation.label, kind, 599, repr(exc), ""))
            return
        findings.requests += 1
        findings.statuses[response.status_code] += 1
        findings.answers.setdefault((case.operation.label, kind), Counter())[
            response.status_code
        ] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=auth)
        except FailureGroup as group:
            curl = case.as_curl_command(headers={"Authorization": "Bearer $TOKEN"})
            cause = _last_exception(server.output[logged:]) if response.status_code >= 500 else ""
            for failure in group.exceptions:
                problem = f"{failure.title}: {failure.message}".strip() + cause
                findings.found.append(
                    Finding(case.operation.label, kind, response.status_code, problem, curl)
                )

    def sender(kind: str) -> Callable[[schemathesis.Case], None]:
        return lambda case: send(case, kind)

    for operation in operations:
        if time.monotonic() - started > seconds:
            findings.left.append(operation.label)
            continue
        findings.operations += 1
        names = [p.name for p in operation.path_parameters]
        fixed = {name: seeded.get(name, "1") for name in names}
        runs = [(mode.value, mode, fixed, examples) for mode in GenerationMode]
        runs += [
            ("ids", GenerationMode.POSITIVE, {**fixed, name: hostile}, 1)
            for name in names
            for hostile in HOSTILE_IDS
        ]
        for kind, mode, path, count in runs:
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path)

            try:
                _settings(count)(hypothesis.given(strategy)(sender(kind)))()
            except hypothesis.errors.Unsatisfiable:
                pass  # nothing to negate: every parameter is fixed and there is no body
    findings.seconds = time.monotonic() - started
    return findings
