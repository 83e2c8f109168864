"""All tables. Importing this module registers every model on ``Base.metadata``."""

from server.models.accounts import ROLES, Account, PairingCode
from server.models.alerts import Alert, BusMessage
from server.models.base import Base, utcnow
from server.models.scans import Scan
from server.models.tickets import Revocation, Ticket
from server.models.venue import Event, Gate, SigningKey, TicketType, Zone, ZoneShard

__all__ = [
    "ROLES",
    "Account",
    "Alert",
    "Base",
    "BusMessage",
    "Event",
    "Gate",
    "PairingCode",
    "Revocation",
    "Scan",
    "SigningKey",
    "Ticket",
    "TicketType",
    "Zone",
    "ZoneShard",
    "utcnow",
]
