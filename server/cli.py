"""The ``muster`` command: serve, create tokens, import tickets, mail tickets.

Everything printed here is read in a terminal: help texts are plain text
(``DESCRIPTION``), not the reST of this docstring."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from server import __version__
from server.auth import ORGANISER, create_account, hash_token, new_token
from server.availability import pauses, unreachable
from server.cli_tokens import add_token_commands
from server.collector import keep_full_collections_rare
from server.db import CONNECT_TIMEOUT, Database, asyncpg_dsn, dialect_name
from server.key_sealing import (
    KeyEncryptionKey,
    KeySealingError,
    adopt,
    load_key_encryption_key,
    new_key_text,
    write_key_file,
)
from server.key_sealing import rotate as rotate_key_encryption_key
from server.migrate import upgrade
from server.models import Account
from server.settings import Settings, load_settings

if TYPE_CHECKING:  # the demo's modules load only when it runs
    from server.demo import DemoEvent

#: The listening socket's queue of connections not yet accepted (``cmd_serve``).
LISTEN_BACKLOG = 8192
#: Listening sockets ``muster serve`` opens on its port (``listen_on``).
LISTEN_SOCKETS = 2
DESCRIPTION = "Muster runs a live event on the day: serve it, create tokens, import tickets."

#: What a second start prints instead of a token (the first start printed it).
TOKEN_HINT = (
    "Muster: the database already has accounts, so no new token was printed. "
    "For an organiser token run:\n  muster token create --role organiser\n"
    "(with the same MUSTER_DATABASE_URL or MUSTER_DATA_DIR as this server)"
)


def with_article(word: str) -> str:
    """'an organiser', 'a door': the article a token's role needs in a sentence."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def _base_url(settings: Settings, host: str, port: int, tls: bool = False) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def describe_database(url: str) -> str:
    """The database's kind and place, without credentials, for the start-up line."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database}"
    return f"PostgreSQL {parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database}"


class StartRefused(Exception):
    """``muster serve`` cannot start: one line for the operator (exit status 1)."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _missing_database(url: str) -> str:
    parsed = make_url(url)
    host, port, name = parsed.host or "localhost", parsed.port or 5432, parsed.database
    user = f" -U {parsed.username}" if parsed.username else ""
    return (
        f'muster: PostgreSQL at {host}:{port} has no database "{name}"; create it with'
        f" `createdb -h {host} -p {port}{user} {name}` (or CREATE DATABASE), or point"
        " MUSTER_DATABASE_URL at one that exists"
    )


async def _connect_once(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url), timeout=CONNECT_TIMEOUT)
    await conn.close()


async def wait_for_database(url: str, wait_seconds: float, say: Callable[[str], None]) -> None:
    """Return once PostgreSQL at ``url`` takes a connection.

    While it cannot be reached (not started yet, restarting, the network),
    one line per attempt, the pause growing from 0.5 s to 5 s, for at most
    ``wait_seconds``; then, or at once for a database that does not exist
    or refuses the login, StartRefused with the one line to print. SQLite
    needs no waiting.
    """
    if url.startswith("sqlite"):
        return
    where = describe_database(url)
    started = time.monotonic()
    for attempt, pause in enumerate(pauses(), start=1):
        try:
            await _connect_once(url)
        except asyncpg.InvalidCatalogNameError:
            raise StartRefused(_missing_database(url)) from None
        except Exception as exc:
            cause = unreachable(exc)
            if cause is None:
                raise StartRefused(f"muster: cannot use {where}: {_first_line(exc)}") from None
        else:
            if attempt > 1:
                say(f"muster: {where} answers after {time.monotonic() - started:.1f} s")
            return
        left = wait_seconds - (time.monotonic() - started)
        if left <= 0:
            raise StartRefused(
                f"muster: {where} did not answer within {wait_seconds:g} s ({cause}); giving up"
                " (MUSTER_DATABASE_WAIT_SECONDS)"
            )
        pause = min(pause, left)
        say(f"muster: waiting for {where} ({cause}); attempt {attempt}, next in {pause:.1f} s")
        await asyncio.sleep(pause)


async def start_database(settings: Settings, say: Callable[[str], None]) -> str | None:
    """What ``muster serve`` does before it serves: wait for the database,
    migrate, make the first token. Expected failures are one StartRefused line."""
    url = str(settings.database_url)
    await wait_for_database(url, settings.database_wait_seconds, say)
    try:
        return await bootstrap(settings)
    except Exception as exc:
        if unreachable(exc) is None:
            raise
        raise StartRefused(
            f"muster: cannot use {describe_database(url)} ({_first_line(exc)})"
        ) from None


async def bootstrap(settings: Settings) -> str | None:
    """Migrate; check the key-encryption key and seal keys stored in plain;
    on an empty database create the first organiser token and return it."""
    url = str(settings.database_url)
    try:
        kek = load_key_encryption_key(settings)
    except KeySealingError as refused:
        raise StartRefused(str(refused)) from None
    await upgrade(url)
    db = Database(url)
    try:
        try:
            await adopt(db, kek)
        except KeySealingError as refused:
            raise StartRefused(str(refused) + _interrupted_rotation(settings)) from None
        return await create_first_token(db)
    finally:
        await db.dispose()


def _interrupted_rotation(settings: Settings) -> str:
    pending = _pending_key_file(settings)
    if str(settings.secret_key) or not pending.exists():
        return ""
    return f"; a rotation stopped half-way? then `mv {pending} {settings.secret_key_file}`"


def _pending_key_file(settings: Settings) -> Path:
    return settings.secret_key_file.with_name(settings.secret_key_file.name + ".new")


async def create_first_token(db: Database) -> str | None:
    """An organiser token if the database has no account yet, else None."""
    async with db.writing() as session:
        if dialect_name(session) == "postgresql":
            # Several processes start at once on an empty database: the lock,
            # held until this transaction commits, lets one of them count zero
            # and create the token.
            await session.execute(text("SELECT pg_advisory_xact_lock(7230771)"))
        if await session.scalar(select(func.count()).select_from(Account)):
            return None
        token = new_token()
        session.add(Account(role=ORGANISER, name="", token_hash=hash_token(token)))
    return token


def listen_on(host: str, port: int) -> list[socket.socket]:
    """The listening sockets of ``muster serve``: ``LISTEN_SOCKETS`` of them
    on one port where the system has ``SO_REUSEPORT`` (Linux), else one.

    The kernel caps each socket's queue of connections not yet accepted at
    ``net.core.somaxconn`` (4,096 by default), whatever ``LISTEN_BACKLOG``
    asks, and spreads new connections over the sockets of a port: when every
    screen of a venue comes back in the same second (5,000 a process in
    ``bench.fanout --storm``), those that found a full queue were dropped and
    came back on TCP's retries, 1, 3, 7… s later, the last ones after 20 s.
    Two sockets hold twice as many. Binding one socket without
    ``SO_REUSEPORT`` first keeps a port in use an error, as it was: no
    second server joins the port by mistake. OSError when it cannot listen.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    count = LISTEN_SOCKETS if hasattr(socket, "SO_REUSEPORT") else 1
    if count == 1:
        return [socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)]
    with socket.create_server((host, port), family=family) as probe:
        port = probe.getsockname()[1]  # port 0: the one the system chose
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(
                socket.create_server(
                    (host, port), family=family, backlog=LISTEN_BACKLOG, reuse_port=True
                )
            )
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server.app import SHUTDOWN_GRACE, GoingAwayServer, create_app

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    tls = bool(settings.tls_certfile)
    if tls != bool(settings.tls_keyfile):
        print(
            "muster: set both MUSTER_TLS_CERTFILE and MUSTER_TLS_KEYFILE, or neither",
            file=sys.stderr,
        )
        return 2
    try:
        token = asyncio.run(start_database(settings, _say))
    except StartRefused as refused:
        print(refused, file=sys.stderr, flush=True)
        return 1
    base = _base_url(settings, host, port, tls)
    if token:
        print("Muster: this is a new database. The organiser token (shown once):", flush=True)
        print(f"  {token}", flush=True)
        print(f"Organiser console: {base}/console/#token={token}", flush=True)
    else:
        print(TOKEN_HINT, flush=True)
    print(
        f"Muster on {base} (database: {describe_database(str(settings.database_url))})", flush=True
    )
    try:
        listeners = listen_on(host, port)
    except OSError as exc:
        print(f"muster: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    keep_full_collections_rare()
    app = create_app(settings, migrate=False)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        # The access log is an INFO line per request: on below that level,
        # off (not merely filtered) above it, so a door rush pays nothing.
        access_log=settings.log_level.lower() in ("debug", "trace", "info"),
        ws_per_message_deflate=False,
        # The hub pings every socket itself (MUSTER_WS_PING_INTERVAL) and
        # closes a silent one; uvicorn's own protocol pings were a second
        # timer and a second ping per socket.
        ws_ping_interval=None,
        # Connections the kernel holds until accepted (uvicorn's default is
        # 2,048; the kernel caps it at net.core.somaxconn), on each of the
        # listening sockets (``listen_on``).
        backlog=LISTEN_BACKLOG,
        ssl_certfile=settings.tls_certfile or None,
        ssl_keyfile=settings.tls_keyfile or None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    server = GoingAwayServer(config, app.state.muster)
    # As uvicorn.run: SIGTERM ends the process by the signal once the server
    # has stopped; SIGINT comes back as KeyboardInterrupt, and a 0.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=listeners)
    return 0 if server.started else 3  # 3: uvicorn's "startup failed"


#: Where the demo keeps its SQLite file when no database is chosen, apart
#: from a real ./muster-data.
DEMO_DATA_DIR = "./muster-demo"


def demo_environment(environ: dict[str, str]) -> dict[str, str]:
    """The demo's settings: as ``serve``'s, but its own data directory unless
    MUSTER_DATABASE_URL or MUSTER_DATA_DIR chooses, quiet logs and a quick
    escalation check unless asked otherwise."""
    chosen = dict(environ)
    if "MUSTER_DATABASE_URL" not in chosen and "MUSTER_DATA_DIR" not in chosen:
        chosen["MUSTER_DATA_DIR"] = DEMO_DATA_DIR
    chosen.setdefault("MUSTER_LOG_LEVEL", "warning")
    # The day runs faster than the clock: look for late incidents every second.
    chosen.setdefault("MUSTER_ESCALATION_CHECK_INTERVAL", "1")
    return chosen


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(demo_environment(dict(os.environ)))
    if bool(settings.tls_certfile) != bool(settings.tls_keyfile):
        print(
            "muster: set both MUSTER_TLS_CERTFILE and MUSTER_TLS_KEYFILE, or neither",
            file=sys.stderr,
        )
        return 2
    host = args.host or settings.host
    port = args.port or settings.port
    try:
        # Bound here, so a port in use is one line, not uvicorn's exit from a task.
        listener = socket.create_server((host, port))
    except OSError as exc:
        print(f"muster: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        asyncio.run(run_demo(settings, args, listener))
    except StartRefused as refused:
        print(refused, file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        pass  # Ctrl-C: uvicorn has shut down; the signal comes back to us after
    print("Muster demo stopped.", flush=True)
    return 0


async def run_demo(settings: Settings, args: argparse.Namespace, listener: socket.socket) -> None:
    """Serve, build the sample event through the API, play the day; stop on
    Ctrl-C or after ``--minutes``."""
    import uvicorn

    from server.app import GoingAwayServer, create_app

    host = args.host or settings.host
    port = args.port or settings.port
    tls = bool(settings.tls_certfile)
    token = await start_database(settings, _say)
    if token is None:
        db = Database(str(settings.database_url))
        try:
            _account, token = await create_account(db, ORGANISER, name="muster demo")
        finally:
            await db.dispose()
    keep_full_collections_rare()
    app = create_app(settings, migrate=False)
    server = GoingAwayServer(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=settings.log_level,
            access_log=False,
            ws_per_message_deflate=False,
            ws_ping_interval=None,  # the hub pings (as cmd_serve)
            ssl_certfile=settings.tls_certfile or None,
            ssl_keyfile=settings.tls_keyfile or None,
        ),
        app.state.muster,
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if serving.done():
            await serving
            return  # it could not start (the port is taken: uvicorn said so)
        await asyncio.sleep(0.05)
    playing = asyncio.create_task(play_demo(settings, args, token, host, port, tls))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + args.minutes * 60 if args.minutes else None
        while not serving.done():
            if deadline is not None and loop.time() >= deadline:
                break
            if playing.done():
                playing.result()  # a crash of the player shows here
            await asyncio.sleep(0.2)
    finally:
        playing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await playing
        server.should_exit = True
        await serving


async def play_demo(
    settings: Settings, args: argparse.Namespace, token: str, host: str, port: int, tls: bool
) -> None:
    """Build the sample event, print where to look, play the day, then idle."""
    import random

    import httpx

    from server.demo import DEMO_BADGES, DayPlayer, prepare
    from server.demo_day import plan_day

    # The simulator talks to this process over loopback, as any client would.
    local = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=local, timeout=30, verify=not tls) as http:
        print(f"Muster demo: building the sample event ({args.tickets} tickets)…", flush=True)
        event = await prepare(http, token, args.tickets, args.speed, args.seed)
        print_demo_links(_base_url(settings, host, port, tls), event, settings, host)
        plan = plan_day(
            event.kinds, random.Random(args.seed), reserved=frozenset(range(DEMO_BADGES))
        )
        player = DayPlayer(http, event, plan, args.speed, say=lambda line: print(line, flush=True))
        await player.run()
    print("The demo day is over; still serving (Ctrl-C stops).", flush=True)
    await asyncio.Event().wait()


def print_demo_links(shown: str, event: DemoEvent, settings: Settings, host: str) -> None:
    e = event.event_id
    badges = event.tickets[:3]
    lines = [
        f"Muster demo on {shown} (database: {describe_database(str(settings.database_url))})",
        f"  Command centre:    {shown}/command/#event={e}&token={event.command_token}",
        f"  Organiser console: {shown}/console/#token={event.organiser_token}&event={e}",
        f"  Pair a phone as the North door (valid {settings.pairing_code_ttl_seconds // 60} min): "
        f"{event.pairing_url}",
        f"  Demo badges to scan: print them from {shown}/console/#event={e}&tab=tickets"
        " (search 演示胸卡), or show one of these on a screen:",
        *(f"    {shown}/t/{ticket.secret}" for ticket in badges),
        f"  API reference:     {shown}/docs/",
    ]
    if host in ("127.0.0.1", "localhost", "::1") and not settings.public_url:
        lines.append(
            "  (A phone cannot reach 127.0.0.1: run with --host 0.0.0.0 and"
            " MUSTER_PUBLIC_URL=https://<this machine's address>, behind TLS.)"
        )
    lines.append("Ctrl-C stops.")
    print("\n".join(lines), flush=True)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_token_create(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> str:
        await upgrade(str(settings.database_url))
        db = Database(str(settings.database_url))
        try:
            _account, token = await create_account(
                db, args.role, event_id=args.event, gate_id=args.gate, name=args.name or ""
            )
            return token
        finally:
            await db.dispose()

    from server.errors import MusterError

    try:
        token = asyncio.run(run())
    except MusterError as exc:
        print(f"muster: {exc.message}", file=sys.stderr)
        return 2
    scope = f"event {args.event}" if args.event else "every event"
    print(f"Created {with_article(args.role)} token for {scope}:")
    print(token)
    return 0


def _progress_bar(stage: str, done: int, total: int) -> None:
    labels = {"check": "checking", "sign": "signing", "write": "writing"}
    if total:
        width = 30
        filled = int(width * done / total)
        bar = "#" * filled + "-" * (width - filled)
        line = f"\r{labels[stage]:9} [{bar}] {done}/{total}"
    else:
        line = f"\r{labels[stage]:9} {done} rows"
    print(line, end="", file=sys.stderr, flush=True)


def cmd_import_tickets(args: argparse.Namespace) -> int:
    from server.auth import TokenVerifier
    from server.context import Muster
    from server.errors import MusterError
    from server.features.issuance import decode_csv, issue_tickets, parse_csv
    from server.features.keys import KEYS, KeyStore

    settings = load_settings()
    path = Path(args.file)
    if not path.is_file():
        print(f"muster: no file {path}", file=sys.stderr)
        return 2

    raw = path.read_bytes()

    async def run() -> int:
        kek = load_key_encryption_key(settings)
        await upgrade(str(settings.database_url))
        db = Database(str(settings.database_url))
        ctx = Muster(settings=settings, db=db, tokens=TokenVerifier(db, 0))
        ctx.keep(KEYS, KeyStore(db, kek))
        try:
            # It signs tickets: with the database's KEK only, as a server would.
            await adopt(db, kek)
            text = decode_csv(raw)
            issued = await issue_tickets(
                ctx, args.event, parse_csv(text, settings.csv_max_rows), _progress_bar
            )
            return len(issued)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(run())
    except KeySealingError as refused:
        print(refused, file=sys.stderr)
        return 1
    except MusterError as exc:
        print(f"\nmuster: {exc.message}", file=sys.stderr)
        details = exc.details or {}
        for error in (details.get("errors", []) if isinstance(details, dict) else [])[:50]:
            params = " ".join(f"{k}={v}" for k, v in error["params"].items())
            print(
                f"  line {error['line']}: {error['field']}: {error['code']} {params}".rstrip(),
                file=sys.stderr,
            )
        return 1
    print(f"\nImported {count} tickets into event {args.event}.")
    return 0


def cmd_secret_key_rotate(args: argparse.Namespace) -> int:
    """Re-seal every signing key under a new key-encryption key (servers stopped)."""
    settings = load_settings()
    from_setting = bool(str(settings.secret_key))
    if from_setting and not args.new_key_file:
        print(
            "muster: the key comes from MUSTER_SECRET_KEY: give the new one with --new-key-file"
            " (made with `openssl rand -base64 32 > new.key`)",
            file=sys.stderr,
        )
        return 2
    try:
        old = load_key_encryption_key(settings)
        text = Path(args.new_key_file).read_text("ascii") if args.new_key_file else new_key_text()
        new = KeyEncryptionKey.from_text(text, args.new_key_file or "a new key")
    except (KeySealingError, OSError, UnicodeDecodeError) as exc:
        print(f"muster: {exc}".replace("muster: muster: ", "muster: "), file=sys.stderr)
        return 2
    pending = _pending_key_file(settings)
    if not from_setting:
        # Written before the database changes, so a crash between the two
        # leaves the new key on disk (bootstrap says how to finish).
        write_key_file(pending, text.strip(), replace=True)

    async def run() -> int:
        await upgrade(str(settings.database_url))
        db = Database(str(settings.database_url))
        try:
            return await rotate_key_encryption_key(db, old, new)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(run())
    except KeySealingError as refused:
        pending.unlink(missing_ok=True)
        print(refused, file=sys.stderr)
        return 1
    print(
        f"Re-sealed {count} signing keys: key-encryption key {old.fingerprint} -> {new.fingerprint}."
    )
    if from_setting:
        print("Set MUSTER_SECRET_KEY to the new key on every process, then start them.")
    else:
        os.replace(pending, settings.secret_key_file)
        print(f"{settings.secret_key_file} holds the new key; start the servers again.")
    return 0


def _mail_bar(counts: dict[str, int]) -> None:
    total = sum(counts.values())
    done = counts["sent"] + counts["failed"]
    width = 30
    filled = int(width * done / total) if total else width
    bar = "#" * filled + "-" * (width - filled)
    line = f"\rsending [{bar}] {done}/{total}  sent {counts['sent']}  failed {counts['failed']}"
    print(line, end="", file=sys.stderr, flush=True)


def cmd_send_tickets(args: argparse.Namespace) -> int:
    from server.errors import MusterError
    from server.features.mail_sender import MailSender
    from server.features.mailings import (
        MailingRequest,
        create_mailing,
        mailing_deliveries,
        read_mailing,
    )

    settings = load_settings()
    if settings.smtp is None:
        print("muster: set MUSTER_SMTP_URL to send mail", file=sys.stderr)
        return 2
    kind = "tickets" if args.ticket else "unsent"
    request = MailingRequest(kind, args.ticket or (), args.note or "")

    async def run() -> tuple[dict[str, int], list[dict[str, object]]]:
        await upgrade(str(settings.database_url))
        db = Database(str(settings.database_url))
        sender = MailSender(db, settings)
        try:
            mailing, queued = await create_mailing(db, args.event, request, None)
            print(f"Mailing {mailing.id}: {queued} ticket(s) queued.", file=sys.stderr)
            last = 0.0
            while True:
                outcome = await sender.send_one(mailing.id)
                now = asyncio.get_running_loop().time()
                found = await read_mailing(db, mailing.id) if now - last > 0.2 else None
                if found is not None or outcome is None:
                    found = found or await read_mailing(db, mailing.id)
                    assert found is not None
                    counts = found[1]
                    _mail_bar(counts)
                    last = now
                    if counts["queued"] + counts["sending"] == 0:
                        break
                if outcome is None or outcome.status == "queued":
                    # Nothing left for us (another process is finishing its
                    # claims), or the SMTP server is away: wait a little.
                    await asyncio.sleep(max(sender.backoff, 0.2))
                else:
                    await sender.pacer.wait()
            failures = await mailing_deliveries(db, mailing.id, "failed", 50, 0)
            return counts, failures
        finally:
            await sender.link.quit()
            await db.dispose()

    try:
        counts, failures = asyncio.run(run())
    except MusterError as exc:
        print(f"\nmuster: {exc.message}", file=sys.stderr)
        return 2
    print(file=sys.stderr)
    for failure in failures:
        reply = f" ({failure['smtp_reply']})" if failure["smtp_reply"] else ""
        print(f"  ticket {failure['code']}: {failure['error']}{reply}", file=sys.stderr)
    print(f"Sent {counts['sent']}, failed {counts['failed']}.")
    return 1 if counts["failed"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="muster", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"muster {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server (upgrades the schema first)")
    serve.add_argument("--host", default=None, help="address to bind (MUSTER_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port to bind (MUSTER_PORT)")
    serve.set_defaults(run=cmd_serve)

    demo = commands.add_parser(
        "demo",
        help="serve a sample event and play a day at it (headcounts, incidents, stock) until Ctrl-C",
    )
    demo.add_argument("--host", default=None, help="address to bind (MUSTER_HOST)")
    demo.add_argument("--port", type=int, default=None, help="port to bind (MUSTER_PORT)")
    demo.add_argument(
        "--speed", type=float, default=60.0, help="how many times faster than real time (60)"
    )
    demo.add_argument(
        "--minutes", type=float, default=None, help="stop after this many minutes (default: Ctrl-C)"
    )
    demo.add_argument("--tickets", type=int, default=3000, help="tickets to issue (3000)")
    demo.add_argument("--seed", type=int, default=2026, help="the same seed plays the same day")
    demo.set_defaults(run=cmd_demo)

    token = commands.add_parser("token", aliases=["tokens"], help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    create = token_commands.add_parser("create", help="create a token; it is the last line printed")
    create.add_argument(
        "--role",
        required=True,
        choices=["organiser", "command", "door", "staff"],
        help="what the token may do",
    )
    create.add_argument("--event", type=int, default=None, help="bind the token to one event")
    create.add_argument("--gate", type=int, default=None, help="the gate of a door token")
    create.add_argument("--name", default=None, help="who or what holds it")
    create.set_defaults(run=cmd_token_create)
    add_token_commands(token_commands)

    secret_key = commands.add_parser(
        "secret-key", help="the key-encryption key that seals the signing keys"
    )
    secret_key_commands = secret_key.add_subparsers(dest="secret_key_command", required=True)
    rotate = secret_key_commands.add_parser(
        "rotate",
        help="re-seal every signing key under a new key-encryption key (stop the servers first)",
    )
    rotate.add_argument(
        "--new-key-file",
        default=None,
        help="the new key (required when MUSTER_SECRET_KEY is set; else one is made"
        " and replaces MUSTER_SECRET_KEY_FILE)",
    )
    rotate.set_defaults(run=cmd_secret_key_rotate)

    imp = commands.add_parser("import-tickets", help="issue tickets from a CSV file")
    imp.add_argument(
        "file", help="CSV with a holder_name column (holder_email, ticket_type optional)"
    )
    imp.add_argument("--event", type=int, required=True)
    imp.set_defaults(run=cmd_import_tickets)

    send = commands.add_parser(
        "send-tickets", help="mail tickets not yet mailed (or the ones named), with a progress bar"
    )
    send.add_argument("--event", type=int, required=True)
    send.add_argument(
        "--ticket", type=int, action="append", help="mail this ticket (again); repeatable"
    )
    send.add_argument(
        "--note",
        choices=["reissued"],
        default=None,
        help="say in the mail that the code sent before no longer works",
    )
    send.set_defaults(run=cmd_send_tickets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
