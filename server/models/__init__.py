"""All tables. Importing this module registers every model on ``Base.metadata``."""

from server.models.accounts import ROLES, Account, PairingCode, TokenRevocation
from server.models.alerts import Alert, BusMessage
from server.models.audit import AuditEntry
from server.models.base import Base, utcnow
from server.models.broadcasts import Broadcast, BroadcastAck, PlanAck
from server.models.evacuations import (
    Evacuation,
    EvacuationAccount,
    EvacuationPerson,
    MusterPoint,
)
from server.models.incidents import EmergencyPlan, Incident, IncidentLogEntry, IncidentPhoto
from server.models.mail import MailDelivery, Mailing
from server.models.rate_limits import RateCounter
from server.models.realtime import BusEpoch, DeviceStatus
from server.models.scans import Scan
from server.models.staff import DutyShift, StaffMember
from server.models.stock import StockItem, StockMovement
from server.models.tasks import RunSheet, RunSheetItem, Task, TaskChange, TaskStep
from server.models.tickets import Revocation, Ticket
from server.models.venue import (
    Event,
    Gate,
    KeyEncryption,
    SigningKey,
    TicketType,
    Zone,
    ZoneShard,
)
from server.models.walk_ins import WalkIn, WalkInBlank

__all__ = [
    "ROLES",
    "Account",
    "Alert",
    "AuditEntry",
    "Base",
    "Broadcast",
    "BroadcastAck",
    "BusEpoch",
    "BusMessage",
    "DeviceStatus",
    "DutyShift",
    "EmergencyPlan",
    "Evacuation",
    "EvacuationAccount",
    "EvacuationPerson",
    "Event",
    "Gate",
    "Incident",
    "IncidentLogEntry",
    "IncidentPhoto",
    "KeyEncryption",
    "MailDelivery",
    "Mailing",
    "MusterPoint",
    "PairingCode",
    "PlanAck",
    "RateCounter",
    "Revocation",
    "RunSheet",
    "RunSheetItem",
    "Scan",
    "SigningKey",
    "StaffMember",
    "StockItem",
    "StockMovement",
    "Task",
    "TaskChange",
    "TaskStep",
    "Ticket",
    "TicketType",
    "TokenRevocation",
    "WalkIn",
    "WalkInBlank",
    "Zone",
    "ZoneShard",
    "utcnow",
]
