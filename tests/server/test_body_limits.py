"""Bodies are capped while they stream in: a real ``muster serve`` process
refuses a 100 MB body to a JSON route (``POST /api/v1/devices/pair`` needs
no token) with 413 in the error shape, and its memory stays flat."""

from __future__ import annotations

import socket
from pathlib import Path

import orjson

from tests.servers import LiveServer, start_server

CHUNK = b"[" * (1024 * 1024)  # 1 MB of what could be the start of a JSON body
TOTAL_MB = 100


def _rss_mb(server: LiveServer) -> float:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return kb / 1024


def _send_chunked(port: int, megabytes: int) -> tuple[int, dict[str, object], int]:
    """POST ``megabytes`` MB in chunked encoding (no declared length, so only a
    cap while reading can stop it); the status, the body and the MB sent."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/devices/pair HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            for _ in range(megabytes):
                sock.sendall(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
                sent += 1
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the end: what we want
        answer = b""
        while b"\r\n\r\n" not in answer or not _complete(answer):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, orjson.loads(body), sent


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def test_a_100_mb_body_is_refused_while_it_streams_and_memory_stays_flat(
    tmp_path: Path,
) -> None:
    server = start_server(tmp_path)
    try:
        port = int(server.base_url.rsplit(":", 1)[1])
        _send_chunked(port, 2)  # warm up: the first request's imports and pools
        before = _rss_mb(server)
        status, body, sent = _send_chunked(port, TOTAL_MB)
        after = _rss_mb(server)
        print(f"server RSS {before:.1f} MB → {after:.1f} MB; {sent} MB sent of {TOTAL_MB}")
        assert status == 413
        assert body["error"]["code"] == "payload_too_large"
        assert body["error"]["details"] == {"max_bytes": 1024 * 1024}
        assert after - before < 20

        # A declared length past the cap is refused before any of it is read.
        with server.api() as api:
            answer = api.post(
                "/api/v1/devices/pair",
                content=b"x" * (1024 * 1024 + 1),
                headers={"Content-Type": "application/json"},
            )
        assert answer.status_code == 413
        assert answer.json()["error"]["code"] == "payload_too_large"
    finally:
        server.stop()
