"""The muster command: token create, import-tickets (sync tests: the CLI runs its own loop)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import func, select

from server.cli import main
from server.db import Database
from server.migrate import upgrade
from server.models import Account, Event, Ticket


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSTER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MUSTER_DATABASE_URL", raising=False)
    return tmp_path


def query(data_dir, statement):
    async def run():
        db = Database(f"sqlite+aiosqlite:///{data_dir.resolve() / 'muster.db'}")
        try:
            async with db.reading() as session:
                return await session.scalar(statement)
        finally:
            await db.dispose()

    return asyncio.run(run())


def make_event(data_dir) -> int:
    from datetime import UTC, datetime, timedelta

    from server.features.keys import create_event_key
    from server.key_sealing import load_key_encryption_key
    from server.models import TicketType
    from server.settings import load_settings

    async def run():
        url = f"sqlite+aiosqlite:///{data_dir.resolve() / 'muster.db'}"
        await upgrade(url)
        db = Database(url)
        try:
            async with db.writing() as session:
                now = datetime.now(UTC)
                event = Event(
                    name="CLI",
                    starts_at=now,
                    ends_at=now + timedelta(hours=2),
                    timezone="UTC",
                    options={},
                )
                session.add(event)
                await session.flush()
                kek = load_key_encryption_key(load_settings({"MUSTER_DATA_DIR": str(data_dir)}))
                await create_event_key(session, kek, event.id)
                session.add(TicketType(event_id=event.id, name="Standard", is_default=True))
            return event.id
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_token_create_prints_the_token_last(data_dir, capsys):
    assert main(["token", "create", "--role", "organiser", "--name", "ops"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[0] == "Created an organiser token for every event:"
    token = printed[-1]
    assert token.startswith("mst_")
    assert query(data_dir, select(func.count()).select_from(Account)) == 1


def test_token_create_refuses_unbound_door(data_dir, capsys):
    assert main(["token", "create", "--role", "door"]) == 2
    assert "bound to an event" in capsys.readouterr().err


def test_tokens_list_revoke_and_rotate_organiser(data_dir, capsys):
    assert main(["token", "create", "--role", "organiser", "--name", "ops"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["tokens", "list"]) == 0
    listed = capsys.readouterr().out
    assert "organiser" in listed and "active" in listed and "ops" in listed
    assert first not in listed
    assert main(["tokens", "rotate-organiser"]) == 0
    rotated = capsys.readouterr().out.strip().splitlines()
    assert rotated[0].startswith("Revoked the organiser tokens for every event (1)")
    new = rotated[-1]
    assert new.startswith("mst_") and new != first
    revoked_at = select(Account.revoked_at).where(Account.name == "ops")
    assert query(data_dir, revoked_at) is not None
    assert main(["token", "create", "--role", "organiser", "--name", "spare"]) == 0
    capsys.readouterr()
    spare_id = query(data_dir, select(Account.id).where(Account.name == "spare"))
    assert main(["token", "revoke", str(spare_id)]) == 0
    assert query(data_dir, select(Account.revoked_at).where(Account.id == spare_id))
    assert main(["tokens", "list"]) == 0
    assert capsys.readouterr().out.count("revoked") == 2
    assert main(["token", "revoke", "999999"]) == 2
    assert "No token 999999" in capsys.readouterr().err


def test_import_tickets(data_dir, capsys):
    main(["token", "create", "--role", "organiser"])
    event_id = make_event(data_dir)
    csv_file = data_dir / "guests.csv"
    csv_file.write_text(
        "name,email\n" + "".join(f"Guest {i},g{i}@example.com\n" for i in range(12000))
    )
    assert main(["import-tickets", str(csv_file), "--event", str(event_id)]) == 0
    captured = capsys.readouterr()
    assert "Imported 12000 tickets" in captured.out
    assert "writing" in captured.err and "12000/12000" in captured.err
    assert query(data_dir, select(func.count()).select_from(Ticket)) == 12000


def test_import_tickets_with_bad_rows_imports_nothing(data_dir, capsys):
    event_id = make_event(data_dir)
    csv_file = data_dir / "guests.csv"
    csv_file.write_text("name,email\nGood,g@example.com\n,nobody@example.com\n")
    assert main(["import-tickets", str(csv_file), "--event", str(event_id)]) == 1
    assert "line 3: holder_name" in capsys.readouterr().err
    assert query(data_dir, select(func.count()).select_from(Ticket)) == 0


def test_help_runs_as_a_console_script():
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "import-tickets" in done.stdout


def test_version_is_the_package_version():
    from importlib.metadata import version

    from server import __version__

    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"muster {__version__}" == f"muster {version('muster')}"


def every_parser(parser):
    yield parser
    for action in parser._actions:
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict):
                yield from every_parser(action.choices[sub])


def test_help_is_plain_text():
    from server.cli import build_parser

    for parser in every_parser(build_parser()):
        text = parser.format_help()
        assert "``" not in text and "`" not in text, (parser.prog, text)


def test_roles_take_the_right_article():
    from server.cli import with_article

    assert [with_article(r) for r in ("organiser", "command", "door", "staff")] == [
        "an organiser",
        "a command",
        "a door",
        "a staff",
    ]


def test_a_second_start_says_how_to_get_an_organiser_token(tmp_path):
    from tests.servers import start_server

    first = start_server(tmp_path)
    first.stop()
    assert first.token and not any("muster token create" in line for line in first.banner)
    second = start_server(tmp_path)
    second.stop()
    assert not second.token
    assert "  muster token create --role organiser" in second.banner


def self_signed(directory) -> tuple[str, str]:
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_serve_speaks_https_with_a_certificate(tmp_path):
    import ssl

    from tests.servers import start_server

    cert, key = self_signed(tmp_path)
    server = start_server(tmp_path, {"MUSTER_TLS_CERTFILE": cert, "MUSTER_TLS_KEYFILE": key})
    try:
        assert server.base_url.startswith("https://")
        import httpx

        answer = httpx.get(
            f"{server.base_url}/readyz", verify=ssl.create_default_context(cafile=cert)
        )
        assert answer.json()["database"] == "ok"
    finally:
        server.stop()


def test_serve_refuses_half_a_tls_setting(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("MUSTER_TLS_CERTFILE", str(data_dir / "cert.pem"))
    assert main(["serve"]) == 2
    assert "MUSTER_TLS_KEYFILE" in capsys.readouterr().err


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_processes_starting_together_create_one_first_token(database_url):
    from server.cli import create_first_token

    processes = [Database(database_url) for _ in range(6)]  # an engine each, as processes have
    try:
        tokens = await asyncio.gather(*(create_first_token(db) for db in processes))
    finally:
        for db in processes:
            await db.dispose()
    assert len([t for t in tokens if t]) == 1


def test_the_demo_keeps_its_data_apart_unless_told():
    from server.cli import DEMO_DATA_DIR, demo_environment

    assert demo_environment({})["MUSTER_DATA_DIR"] == DEMO_DATA_DIR
    assert demo_environment({"MUSTER_DATA_DIR": "/x"})["MUSTER_DATA_DIR"] == "/x"
    chosen = demo_environment({"MUSTER_DATABASE_URL": "postgresql+asyncpg://h/db"})
    assert "MUSTER_DATA_DIR" not in chosen
    assert demo_environment({"MUSTER_LOG_LEVEL": "debug"})["MUSTER_LOG_LEVEL"] == "debug"


def test_serve_listens_on_sockets_sharing_one_port_and_refuses_a_port_in_use():
    """``listen_on``: two queues of connections for a reconnect storm, both
    fed by the kernel, and a second server on the port still refused."""
    import socket

    from server.cli import LISTEN_SOCKETS, listen_on

    listeners = listen_on("127.0.0.1", 0)
    clients: list[socket.socket] = []
    try:
        port = listeners[0].getsockname()[1]
        assert len(listeners) == LISTEN_SOCKETS == 2
        assert {s.getsockname()[1] for s in listeners} == {port}
        with pytest.raises(OSError):
            listen_on("127.0.0.1", port)
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(64)]
        accepted = []
        for listener in listeners:
            listener.setblocking(False)
            count = 0
            while True:
                try:
                    listener.accept()[0].close()
                except BlockingIOError:
                    break
                count += 1
            accepted.append(count)
        assert sum(accepted) == 64 and min(accepted) > 0, accepted
    finally:
        for sock in listeners + clients:
            sock.close()
