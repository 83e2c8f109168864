"""Every setting Muster reads, from the environment, in one place.

Each setting is listed in the README's configuration table with its default;
``tests/server/test_settings.py`` fails when one is missing there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from starlette.config import Config
from starlette.datastructures import Secret

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_pwa_dir() -> Path:
    """The checkout's ``pwa/`` when running from one, else the copy installed
    inside the package (``server/pwa``, see setup.py)."""
    checkout = REPO_ROOT / "pwa"
    if (checkout / "index.html").is_file():
        return checkout
    return Path(__file__).resolve().parent / "pwa"


#: name -> (default shown in the README, one-line description). The README
#: table is checked against these names.
DOCUMENTED: dict[str, str] = {}


def _doc(name: str, description: str) -> str:
    DOCUMENTED[name] = description
    return name


#: How the mail sender speaks TLS to the SMTP server: not at all, by
#: STARTTLS after connecting, or from the first byte (SMTPS, port 465).
SMTP_TLS_MODES = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SmtpServer:
    """Where ticket mail goes, read from ``MUSTER_SMTP_URL``::

        smtp://user:password@mail.example.com:587            (STARTTLS)
        smtps://user:password@mail.example.com                (TLS, port 465)
        smtp://127.0.0.1:2525?tls=none                        (plain, loopback)

    ``?tls=none|starttls|tls`` overrides what the scheme implies; user and
    password are percent-decoded (an ``@`` in a password is ``%40``).
    """

    host: str
    port: int
    user: str
    password: Secret
    tls: str

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("MUSTER_SMTP_URL must look like smtp://user:password@host:port")
        tls = parse_qs(parts.query).get("tls", ["tls" if parts.scheme == "smtps" else "starttls"])
        if tls[0] not in SMTP_TLS_MODES:
            raise ValueError(f"MUSTER_SMTP_URL: tls must be one of {', '.join(SMTP_TLS_MODES)}")
        default_port = {"none": 25, "starttls": 587, "tls": 465}[tls[0]]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            user=unquote(parts.username or ""),
            password=Secret(unquote(parts.password or "")),
            tls=tls[0],
        )

    def __repr__(self) -> str:
        # The password never reaches a log line or a traceback.
        return f"SmtpServer({self.host}:{self.port}, tls={self.tls}, user={bool(self.user)})"


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: Secret
    host: str
    port: int
    public_url: str
    log_level: str
    pwa_dir: Path
    annul_window_seconds: int
    zone_soft_warning: float
    capacity_shards: int
    csv_max_rows: int
    upload_max_bytes: int
    json_max_bytes: int
    token_cache_seconds: float
    pairing_code_ttl_seconds: int
    #: Blank walk-in tickets a door supervisor's phone holds per ticket type.
    walk_in_blanks: int
    auth_failures_per_minute: int
    pairing_claims_per_minute: int
    door_lookups_per_minute: int
    ws_queue_size: int
    ws_ping_interval: float
    ws_ping_timeout: float
    state_updates_per_second: float
    history_size: int
    bus_poll_interval: float
    bus_notify_interval: float
    photo_max_bytes: int
    photo_max_pixels: int
    photo_max_side: int
    escalation_check_interval: float
    incident_dedupe_window_seconds: int
    tls_certfile: str
    tls_keyfile: str
    metrics_token: Secret
    secret_key: Secret
    secret_key_file: Path
    smtp: SmtpServer | None
    mail_from: str
    mail_per_second: float
    mail_poll_interval: float
    smtp_timeout: float
    database_wait_seconds: float
    retention_days: int
    retention_check_interval: float

    @property
    def is_sqlite(self) -> bool:
        return str(self.database_url).startswith("sqlite")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from ``environ`` (default: the process environment)."""
    config = Config(environ=dict(os.environ if environ is None else environ))
    data_dir = Path(
        config(_doc("MUSTER_DATA_DIR", "directory for the SQLite file"), default="./muster-data")
    )
    default_url = f"sqlite+aiosqlite:///{data_dir.resolve() / 'muster.db'}"
    smtp_url = config(
        _doc("MUSTER_SMTP_URL", "SMTP server of ticket mail (none: mail is not sent)"),
        cast=Secret,
        default="",
    )
    return Settings(
        data_dir=data_dir,
        database_url=Secret(
            config(_doc("MUSTER_DATABASE_URL", "database URL"), default=default_url)
        ),
        host=config(_doc("MUSTER_HOST", "address muster serve binds"), default="127.0.0.1"),
        port=config(_doc("MUSTER_PORT", "port muster serve binds"), cast=int, default=8000),
        public_url=config(
            _doc("MUSTER_PUBLIC_URL", "base URL in printed links and pairing QR codes"),
            default="",
        ),
        log_level=config(_doc("MUSTER_LOG_LEVEL", "log level"), default="info"),
        pwa_dir=Path(
            config(
                _doc("MUSTER_PWA_DIR", "static files of the pages"), default=str(default_pwa_dir())
            )
        ),
        annul_window_seconds=config(
            _doc("MUSTER_ANNUL_WINDOW_SECONDS", "how long a scan can be annulled"),
            cast=int,
            default=120,
        ),
        zone_soft_warning=config(
            _doc("MUSTER_ZONE_SOFT_WARNING", "default soft warning level of a new zone"),
            cast=float,
            default=0.9,
        ),
        capacity_shards=config(
            _doc("MUSTER_CAPACITY_SHARDS", "counter shards a zone's capacity is split into"),
            cast=int,
            default=8,
        ),
        csv_max_rows=config(
            _doc("MUSTER_CSV_MAX_ROWS", "most rows in one ticket import"), cast=int, default=100_000
        ),
        upload_max_bytes=config(
            _doc("MUSTER_UPLOAD_MAX_BYTES", "largest ticket import (a CSV file or a JSON batch)"),
            cast=int,
            default=64 * 1024 * 1024,
        ),
        json_max_bytes=config(
            _doc("MUSTER_JSON_MAX_BYTES", "largest JSON request body"),
            cast=int,
            default=1024 * 1024,
        ),
        token_cache_seconds=config(
            _doc("MUSTER_TOKEN_CACHE_SECONDS", "how long a verified token is cached"),
            cast=float,
            default=5.0,
        ),
        pairing_code_ttl_seconds=config(
            _doc("MUSTER_PAIRING_CODE_TTL_SECONDS", "lifetime of a phone pairing code"),
            cast=int,
            default=600,
        ),
        walk_in_blanks=config(
            _doc(
                "MUSTER_WALK_IN_BLANKS",
                "blank walk-in tickets a door supervisor's phone holds per ticket type",
            ),
            cast=int,
            default=20,
        ),
        auth_failures_per_minute=config(
            _doc(
                "MUSTER_AUTH_FAILURES_PER_MINUTE",
                "invalid tokens one client address may present a minute before 429 (0: no limit)",
            ),
            cast=int,
            default=30,
        ),
        pairing_claims_per_minute=config(
            _doc(
                "MUSTER_PAIRING_CLAIMS_PER_MINUTE",
                "pairing-code claims one client address may make a minute before 429 (0: no limit)",
            ),
            cast=int,
            default=10,
        ),
        door_lookups_per_minute=config(
            _doc(
                "MUSTER_DOOR_LOOKUPS_PER_MINUTE",
                "ticket look-ups one door token may make a minute before 429 (0: no limit)",
            ),
            cast=int,
            default=20,
        ),
        ws_queue_size=config(
            _doc("MUSTER_WS_QUEUE_SIZE", "messages queued per socket before it is dropped"),
            cast=int,
            default=256,
        ),
        ws_ping_interval=config(
            _doc("MUSTER_WS_PING_INTERVAL", "seconds between application pings"),
            cast=float,
            default=20.0,
        ),
        ws_ping_timeout=config(
            _doc("MUSTER_WS_PING_TIMEOUT", "seconds to wait for a pong"), cast=float, default=20.0
        ),
        state_updates_per_second=config(
            _doc("MUSTER_STATE_UPDATES_PER_SECOND", "most updates a second on a state topic"),
            cast=float,
            default=5.0,
        ),
        history_size=config(
            _doc("MUSTER_HISTORY_SIZE", "messages kept per stream topic for replay"),
            cast=int,
            default=1000,
        ),
        bus_poll_interval=config(
            _doc("MUSTER_BUS_POLL_INTERVAL", "seconds between bus reads without a wake-up"),
            cast=float,
            default=1.0,
        ),
        bus_notify_interval=config(
            _doc(
                "MUSTER_BUS_NOTIFY_INTERVAL",
                "least seconds between two NOTIFY wake-ups, and between two reads of a bus table",
            ),
            cast=float,
            default=0.05,
        ),
        photo_max_bytes=config(
            _doc("MUSTER_PHOTO_MAX_BYTES", "largest incident photo upload"),
            cast=int,
            default=10 * 1024 * 1024,
        ),
        photo_max_pixels=config(
            _doc("MUSTER_PHOTO_MAX_PIXELS", "largest decoded photo (decompression-bomb guard)"),
            cast=int,
            default=40_000_000,
        ),
        photo_max_side=config(
            _doc("MUSTER_PHOTO_MAX_SIDE", "longest side of a stored photo"),
            cast=int,
            default=1600,
        ),
        escalation_check_interval=config(
            _doc(
                "MUSTER_ESCALATION_CHECK_INTERVAL",
                "seconds between incident escalation and task checks (due soon, overdue)",
            ),
            cast=float,
            default=5.0,
        ),
        incident_dedupe_window_seconds=config(
            _doc(
                "MUSTER_INCIDENT_DEDUPE_WINDOW_SECONDS",
                "seconds a new report of the same equipment or place joins an open incident",
            ),
            cast=int,
            default=1800,
        ),
        tls_certfile=config(
            _doc("MUSTER_TLS_CERTFILE", "PEM certificate: muster serve speaks HTTPS"), default=""
        ),
        tls_keyfile=config(
            _doc("MUSTER_TLS_KEYFILE", "PEM private key of that certificate"), default=""
        ),
        metrics_token=Secret(
            config(
                _doc(
                    "MUSTER_METRICS_TOKEN",
                    "bearer token /metrics asks for (none: /metrics answers loopback only)",
                ),
                default="",
            )
        ),
        secret_key=Secret(
            config(
                _doc(
                    "MUSTER_SECRET_KEY",
                    "key-encryption key of the signing keys (none: MUSTER_SECRET_KEY_FILE)",
                ),
                default="",
            )
        ),
        secret_key_file=Path(
            config(
                _doc(
                    "MUSTER_SECRET_KEY_FILE",
                    "file holding the key-encryption key, made 0600 on first start",
                ),
                default=str(data_dir / "secret.key"),
            )
        ),
        smtp=SmtpServer.from_url(str(smtp_url)) if str(smtp_url) else None,
        mail_from=config(
            _doc("MUSTER_MAIL_FROM", "sender address of ticket mail"),
            default="Muster <tickets@localhost>",
        ),
        mail_per_second=config(
            _doc(
                "MUSTER_MAIL_PER_SECOND", "most ticket mails a process sends a second (0: no limit)"
            ),
            cast=float,
            default=10.0,
        ),
        mail_poll_interval=config(
            _doc("MUSTER_MAIL_POLL_INTERVAL", "seconds between looks for queued mail"),
            cast=float,
            default=2.0,
        ),
        smtp_timeout=config(
            _doc("MUSTER_SMTP_TIMEOUT", "seconds one SMTP exchange may take"),
            cast=float,
            default=30.0,
        ),
        database_wait_seconds=config(
            _doc(
                "MUSTER_DATABASE_WAIT_SECONDS",
                "how long muster serve waits for the database at start before it gives up",
            ),
            cast=float,
            default=60.0,
        ),
        retention_days=config(
            _doc(
                "MUSTER_RETENTION_DAYS",
                "days after an event ends that attendees' personal data is kept (events may differ)",
            ),
            cast=int,
            default=30,
        ),
        retention_check_interval=config(
            _doc(
                "MUSTER_RETENTION_CHECK_INTERVAL",
                "seconds between looks for events whose personal data is due to go (0: never)",
            ),
            cast=float,
            default=600.0,
        ),
    )
