"""No input yields a 5xx, and every answer is what the document says (issue 13.1).

A bounded schemathesis run (``tests/hostile.py``) against a real ``muster
serve`` on each database, with the organiser's token: every operation of its
own ``/openapi.json`` gets a few requests that fit the document, as many that
break it, and every path id past 64 bits. Any 5xx, or a status, content type
or body the document does not list, fails the test with a curl command that
repeats it. ``bench/hostile.py`` runs the same with more examples.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile import explore
from tests.servers import start_server

#: Requests per operation and kind: enough to reach each body's bounds,
#: few enough to stay well inside a minute per database.
EXAMPLES = 4

#: The run stops between operations past this; the test then fails, naming
#: those left (a run that silently covered less would prove less).
SECONDS = 120.0


def test_no_input_gets_a_server_error_or_an_undocumented_answer(
    database_url: str, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "serve", {"MUSTER_DATABASE_URL": database_url})
    try:
        findings = explore(server, examples=EXAMPLES, seconds=SECONDS)
    finally:
        server.stop()
    assert findings.found == [], findings.summary()
    assert findings.left == [], findings.summary()
    assert findings.operations >= 80, findings.summary()
    # Each kind of request was sent: the bodies reached past the lookups.
    kinds = {kind for _operation, kind in findings.answers}
    assert kinds == {"positive", "negative", "ids"}, findings.summary()
    assert findings.statuses[201] > 0 and findings.statuses[422] > 0, findings.summary()
    # The run's own token held to the end (no operation cut the others off).
    assert findings.statuses[401] == 0, findings.summary()
