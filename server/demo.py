"""``muster demo``: a sample event, and a day at it played against the real API.

Everything goes over HTTP and the websocket, as phones and screens do — the
organiser sets the venue up, phones are paired with pairing codes, doors
scan, a door drops off the network and syncs its queue, floor staff report
incidents and hand out stock, the command centre acknowledges and resolves
— so the demo is also the real system under a real load. There is no back
door: this module imports nothing of the server but the plan of the day
(``server.demo_day``, pure) and the version.

``prepare`` builds the event; ``DayPlayer`` plays the plan in compressed
time (``speed`` virtual seconds a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import websockets

from server import demo_day
from server.demo_day import (
    DRILL_POINT,
    DRILL_ZONE,
    GATES,
    INCIDENTS,
    JOURNEY,
    ZONES,
    Action,
    DayPlan,
    Drill,
    Forged,
    IncidentStep,
    Offline,
    Revoke,
    Scan,
    StockMove,
)

log = logging.getLogger("muster.demo")

TIMEZONE = "Asia/Shanghai"
EVENT_NAME = "新品发布会 2026 · Product Launch 2026 (demo)"
#: The first tickets are demo badges for a person to scan: never used by the simulator.
DEMO_BADGES = 12
#: Phones paired per gate.
PHONES = {"north": 2, "south": 1, "expo": 1, "vip": 1}
GATE_NAMES = {
    "north": "北门 North door",
    "south": "南门 South door",
    "expo": "展区门 Expo door",
    "vip": "贵宾室门 VIP door",
}
TICKET_TYPES = {
    "standard": ("标准票 Standard", ["main", "expo"]),
    "vip": ("贵宾票 VIP", ["main", "expo", "vip"]),
    "press": ("媒体证 Press", ["main"]),
}
PLANS = {
    "medical": (
        "医疗急救预案",
        "Medical emergency",
        "1. 呼叫医疗点（对讲机 3 频道）\n2. 疏散围观人群，保持通道畅通\n3. 需要时拨打 120，派人到北门接应",
        "1. Call the first-aid point (radio channel 3)\n2. Keep onlookers back and the way clear\n"
        "3. If needed call 120 and send someone to meet the ambulance at the North door",
    ),
    "power": (
        "断电处置预案",
        "Power failure",
        "1. 通知电工，确认跳闸回路\n2. 舞台切换备用电源\n3. 主持人安抚观众",
        "1. Call the electrician and find the tripped circuit\n2. Switch the stage to backup power\n"
        "3. The host keeps the audience informed",
    ),
    "crowd": (
        "人流拥堵预案",
        "Crowding",
        "1. 开放备用通道\n2. 安保分流排队人群\n3. 区域接近满员时暂停入场",
        "1. Open the spare lanes\n2. Security splits the queue\n3. Pause entry when a zone is near full",
    ),
    "equipment_failure": (
        "设备故障预案",
        "Equipment failure",
        "1. 换上备用设备\n2. 登记设备编号\n3. 通知技术组",
        "1. Swap in the spare\n2. Note the equipment tag\n3. Tell the tech team",
    ),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
]
FIRST = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jack"]
LAST = ["Schmidt", "Tanaka", "Smith", "Martin", "Rossi", "Kim", "Dubois", "Novak", "Silva", "Berg"]


def holder_name(index: int, rng: random.Random) -> str:
    """Mostly Chinese names, some English ones."""
    if rng.random() < 0.8:
        return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


@dataclass
class Ticket:
    id: int
    secret: str
    name: str
    #: The secret before a revoke-and-reissue (shown once by "revoked").
    old_secret: str = ""


@dataclass
class DemoEvent:
    """The sample event as the API made it: ids, tokens, links."""

    base_url: str
    event_id: int
    organiser_token: str
    command_token: str
    staff_token: str
    zones: dict[str, int]
    gates: dict[str, int]
    items: dict[str, int]
    #: Door phones' tokens per gate.
    doors: dict[str, list[str]]
    #: The drill's assembly point.
    drill_point: int
    tickets: list[Ticket]
    kinds: list[demo_day.TicketKind]
    pairing_url: str

    @property
    def zone_keys(self) -> dict[int, str]:
        return {zone_id: key for key, zone_id in self.zones.items()}


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"{status}: {body[:300]}")
        self.status = status


async def call(
    http: httpx.AsyncClient, method: str, path: str, token: str, body: Any = None
) -> Any:
    answer = await http.request(
        method, path, json=body, headers={"Authorization": f"Bearer {token}"}
    )
    if answer.status_code >= 400:
        raise ApiError(answer.status_code, answer.text)
    return answer.json()


def event_day(now: datetime) -> tuple[datetime, datetime]:
    """Today 09:00–18:30 in the event's zone: whenever the demo runs, now is
    inside the tickets' validity (24 h before the start to 6 h after the end)."""
    local = now.astimezone(ZoneInfo(TIMEZONE))
    start = local.replace(hour=9, minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=9, minutes=30)


async def pair(
    http: httpx.AsyncClient, organiser: str, event_id: int, role: str, name: str, gate: int | None
) -> str:
    """A phone's token, got as a phone gets it: a pairing code made, then claimed."""
    code = await call(
        http,
        "POST",
        f"/api/v1/events/{event_id}/pairing-codes",
        organiser,
        {"role": role, "gate": gate, "device_name": name},
    )
    paired = await http.post(
        "/api/v1/devices/pair", json={"code": code["code"], "device_name": name}
    )
    if paired.status_code >= 400:
        raise ApiError(paired.status_code, paired.text)
    return str(paired.json()["token"])


async def prepare(
    http: httpx.AsyncClient, organiser: str, ticket_count: int, speed: float, seed: int
) -> DemoEvent:
    """Create the sample event through the API: venue, tickets, stock, plans, phones."""
    rng = random.Random(seed)
    starts, ends = event_day(datetime.now(UTC))
    event = await call(
        http,
        "POST",
        "/api/v1/events",
        organiser,
        {
            "name": EVENT_NAME,
            "starts_at": starts.isoformat(),
            "ends_at": ends.isoformat(),
            "timezone": TIMEZONE,
            # Bilingual as every other demo name: the server's "Standard" read
            # in English on zh pages (a walk-in's ticket type, the review).
            "default_ticket_type": "普通票 General",
            "options": {"escalation": demo_day.escalation_seconds(speed)},
        },
    )
    e = event["id"]

    async def post(path: str, body: dict[str, Any]) -> Any:
        return await call(http, "POST", f"/api/v1/events/{e}/{path}", organiser, body)

    zones = {
        key: (await post("zones", {"name": name, "capacity": cap, "soft_warning": soft}))["id"]
        for key, (name, cap, soft) in ZONES.items()
    }
    gates = {
        key: (
            await post(
                "gates",
                {
                    "name": GATE_NAMES[key],
                    "from_zone": zones[from_zone] if from_zone else None,
                    "to_zone": zones[to_zone],
                },
            )
        )["id"]
        for key, (from_zone, to_zone) in GATES.items()
    }
    types = {
        kind: (await post("ticket-types", {"name": name, "zones": [zones[z] for z in allowed]}))[
            "id"
        ]
        for kind, (name, allowed) in TICKET_TYPES.items()
    }
    kinds = demo_day.ticket_kinds(ticket_count)
    rows = [
        {
            "holder_name": (
                f"演示胸卡 {index + 1:02} · Demo badge {index + 1:02}"
                if index < DEMO_BADGES
                else holder_name(index, rng)
            ),
            "holder_email": f"guest{index + 1}@example.com",
            "ticket_type": types[kind],
        }
        for index, kind in enumerate(kinds)
    ]
    issued = await post("tickets", {"tickets": rows})
    tickets = [
        Ticket(t["id"], t["secret"], str(row["holder_name"]))
        for t, row in zip(issued["tickets"], rows, strict=True)
    ]
    items = {}
    for story in demo_day.stock_for(ticket_count):
        item = {
            "name": story.name,
            "unit": story.unit,
            "location": "服务台 Help desk",
            "quantity": story.quantity,
            "low_threshold": story.low,
            "critical_threshold": story.critical,
        }
        items[story.key] = (await post("stock/items", item))["id"]
    for category, (title_zh, title_en, steps_zh, steps_en) in PLANS.items():
        plan = {"title_zh": title_zh, "title_en": title_en, "steps_zh": steps_zh}
        await post("plans", {"category": category, **plan, "steps_en": steps_en})
    points = {
        DRILL_POINT: [zones[DRILL_ZONE]],
        "北广场 North plaza": [zones[z] for z in ZONES if z != DRILL_ZONE],
    }
    point_ids = {
        name: (await post("muster-points", {"name": name, "zones": zone_ids}))["id"]
        for name, zone_ids in points.items()
    }
    doors: dict[str, list[str]] = {}
    for key, count in PHONES.items():
        for number in range(1, count + 1):
            name = f"{GATE_NAMES[key]} {number}"
            doors.setdefault(key, []).append(
                await pair(http, organiser, e, "door", name, gates[key])
            )
    staff = await pair(http, organiser, e, "staff", "服务台 Help desk", None)
    command = await pair(http, organiser, e, "command", "指挥中心 Command screen", None)
    # A code for a person's own phone, as the North door (claimed by nobody here).
    code = await post(
        "pairing-codes",
        {"role": "door", "gate": gates["north"], "device_name": "你的手机 Your phone"},
    )
    return DemoEvent(
        base_url=str(http.base_url).rstrip("/"),
        event_id=e,
        organiser_token=organiser,
        command_token=command,
        staff_token=staff,
        zones=zones,
        gates=gates,
        items=items,
        doors=doors,
        drill_point=point_ids[DRILL_POINT],
        tickets=tickets,
        kinds=kinds,
        pairing_url=str(code["pairing_url"]),
    )


class DoorSocket:
    """A door phone's websocket: hello, answer pings, report the offline queue.

    Closed while the phone is "offline"; reconnects (after a short pause)
    if the server closes it while online."""

    def __init__(self, url: str, token: str, gate: int) -> None:
        self.url = url
        self.token = token
        self.gate = gate
        self.queue = 0
        self._socket: Any = None
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    def go_online(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def go_offline(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.connected.clear()

    async def report(self, queue: int) -> None:
        self.queue = queue
        socket = self._socket
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.send(json.dumps({"type": "status", "queue": queue, "gate": self.gate}))

    async def _run(self) -> None:
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=10) as socket:
                    hello = {"type": "hello", "token": self.token, "topics": ["admissions"]}
                    await socket.send(json.dumps(hello))
                    self._socket = socket
                    await self.report(self.queue)
                    self.connected.set()
                    async for raw in socket:
                        message = json.loads(raw)
                        if message.get("type") == "ping":
                            await socket.send(json.dumps({"type": "pong", "t": message.get("t")}))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("door socket closed: %s", exc)
            finally:
                self._socket = None
                self.connected.clear()
            await asyncio.sleep(1)


@dataclass
class Tally:
    """What the day did, counted from the API's answers."""

    scans: Counter[str] = field(default_factory=Counter)
    synced: int = 0
    conflicts: int = 0
    stock_moves: int = 0
    stock_refused: int = 0
    incidents: Counter[str] = field(default_factory=Counter)
    failures: int = 0
    drill_accounts: int = 0


#: Most real seconds the day's clock moves in one step (see ``DayPlayer._tick``).
MAX_TICK = 0.5
#: Virtual minutes between two progress lines.
REPORT_EVERY = 30
#: Most actions started at once.
MAX_BATCH = 200


class DayPlayer:
    """Plays a ``DayPlan`` against the API, ``speed`` times faster than real time."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        event: DemoEvent,
        plan: DayPlan,
        speed: float,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.event = event
        self.plan = plan
        self.speed = speed
        self.say = say
        self.clock = clock
        self.tally = Tally()
        #: Where each ticket's holder is, by zone key, as the server answered;
        #: "pending" while an offline door holds their scan.
        self.where: dict[int, str | None] = {}
        self.offline: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.incident_ids: dict[str, int] = {}
        self.drill: int | None = None
        self.drill_roll: list[int] = []
        self.sockets: dict[str, list[DoorSocket]] = {}
        self._phone = itertools.count()
        self._http_slots = asyncio.Semaphore(24)
        self._virtual = float(demo_day.DAY_START)
        self._last_tick = 0.0

    def virtual_now(self) -> float:
        return self._virtual

    def _tick(self) -> None:
        """Move the day's clock on by the real time since the last tick, ×
        speed — but by at most ``MAX_TICK`` real seconds: when the machine is
        slower than the plan (a rush on a busy laptop), the day stretches
        instead of piling up actions, and everything still happens in order."""
        now = self.clock()
        self._virtual += min(now - self._last_tick, MAX_TICK) * self.speed / 60
        self._last_tick = now

    async def run(self) -> Tally:
        ws_base = self.event.base_url.replace("http", "ws", 1)
        for key, tokens in self.event.doors.items():
            self.sockets[key] = [
                DoorSocket(f"{ws_base}/ws/events/{self.event.event_id}", t, self.event.gates[key])
                for t in tokens
            ]
            for socket in self.sockets[key]:
                socket.go_online()
        try:
            await self._play()
        finally:
            for sockets in self.sockets.values():
                for socket in sockets:
                    await socket.go_offline()
        return self.tally

    async def _play(self) -> None:
        self._last_tick = self.clock()
        actions = self.plan.actions
        index = 0
        next_report = demo_day.DOORS_OPEN
        while index < len(actions):
            self._tick()
            now = self.virtual_now()
            due: list[Action] = []
            while index < len(actions) and actions[index].at <= now and len(due) < MAX_BATCH:
                due.append(actions[index])
                index += 1
            if due:
                await self._run_lanes(due)
            if now >= next_report:
                await self._report(now)
                next_report += REPORT_EVERY
            if index < len(actions):
                wait = (actions[index].at - self.virtual_now()) * 60 / self.speed
                await asyncio.sleep(min(max(wait, 0.01), MAX_TICK / 2))
        await self._report(self.virtual_now())

    async def _run_lanes(self, due: list[Action]) -> None:
        """Run due actions: in order within a lane (a ticket, an incident, an
        item, a door going off or on line), lanes side by side."""
        lanes: dict[tuple[str, Any], list[Action]] = {}
        for action in due:
            lanes.setdefault(lane_of(action), []).append(action)

        async def run_lane(steps: list[Action]) -> None:
            for step in steps:
                try:
                    await self._act(step)
                except (ApiError, httpx.HTTPError) as exc:
                    self.tally.failures += 1
                    log.warning("demo: %s failed: %s", type(step).__name__, exc)

        await asyncio.gather(*(run_lane(steps) for steps in lanes.values()))

    async def _act(self, action: Action) -> None:
        if isinstance(action, Scan):
            await self._scan(action)
        elif isinstance(action, Forged):
            await self._forged(action)
        elif isinstance(action, Revoke):
            await self._revoke(action)
        elif isinstance(action, Offline):
            await self._offline(action)
        elif isinstance(action, StockMove):
            await self._stock(action)
        elif isinstance(action, Drill):
            await self._drill(action)
        else:
            await self._incident(action)

    async def _limited(self, work: Awaitable[Any]) -> Any:
        async with self._http_slots:
            return await work

    def _door_token(self, gate: str) -> tuple[str, DoorSocket]:
        phones = self.event.doors[gate]
        number = next(self._phone) % len(phones)
        return phones[number], self.sockets[gate][number]

    async def _scan(self, scan: Scan) -> None:
        if scan.purpose in JOURNEY and self.where.get(scan.ticket) != scan.expect_zone:
            return  # refused earlier (a full zone): this step would not happen
        ticket = self.event.tickets[scan.ticket]
        secret = ticket.old_secret if scan.purpose == "revoked" else ticket.secret
        body = {
            "secret": secret,
            "gate": self.event.gates[scan.gate],
            "direction": scan.direction,
            "nonce": uuid.uuid4().hex,
            "scanned_at": datetime.now(UTC).isoformat(),
        }
        if scan.gate in self.offline:
            # The phone decides on its own and queues the scan for its sync.
            self.offline[scan.gate].append((scan.ticket, {**body, "local_status": "ok"}))
            self.where[scan.ticket] = "pending"
            for socket in self.sockets[scan.gate]:
                await socket.report(len(self.offline[scan.gate]))
            return
        token, _socket = self._door_token(scan.gate)
        answer = await self._limited(
            call(self.http, "POST", f"/api/v1/events/{self.event.event_id}/scans", token, body)
        )
        self._note_scan(scan.ticket, answer)

    def _note_scan(self, ticket: int, answer: dict[str, Any]) -> None:
        if answer["status"] == "ok":
            self.tally.scans["ok"] += 1
            zone = (answer.get("ticket") or {}).get("zone")
            self.where[ticket] = self.event.zone_keys.get(zone) if zone else None
        else:
            self.tally.scans[str(answer.get("reason"))] += 1
            if self.where.get(ticket) == "pending":
                self.where.pop(ticket)

    async def _forged(self, forged: Forged) -> None:
        real = self.event.tickets[-1].secret
        # A code that looks right, with a signature that is not.
        fake = real[:-12] + "".join(random.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", k=12))
        token, _socket = self._door_token(forged.gate)
        answer = await self._limited(
            call(
                self.http,
                "POST",
                f"/api/v1/events/{self.event.event_id}/scans",
                token,
                {
                    "secret": fake,
                    "gate": self.event.gates[forged.gate],
                    "direction": "in",
                    "nonce": uuid.uuid4().hex,
                    "scanned_at": datetime.now(UTC).isoformat(),
                },
            )
        )
        self.tally.scans[str(answer.get("reason") or "ok")] += 1

    async def _revoke(self, revoke: Revoke) -> None:
        ticket = self.event.tickets[revoke.ticket]
        answer = await call(
            self.http,
            "POST",
            f"/api/v1/tickets/{ticket.id}/revoke",
            self.event.organiser_token,
            {"reissue": True, "reason": "lost"},
        )
        ticket.old_secret, ticket.secret = ticket.secret, answer["secret"]

    async def _offline(self, change: Offline) -> None:
        sockets = self.sockets[change.gate]
        if not change.online:
            self.offline[change.gate] = []
            for socket in sockets:
                await socket.go_offline()
            self.say(f"  {clock_text(change.at)}  {GATE_NAMES[change.gate]}: offline, queueing")
            return
        queued = self.offline.pop(change.gate, [])
        for socket in sockets:
            socket.go_online()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(sockets[0].connected.wait(), 10)
        for socket in sockets:
            await socket.report(len(queued))
        token = self.event.doors[change.gate][0]
        answer = await call(
            self.http,
            "POST",
            f"/api/v1/events/{self.event.event_id}/scans/sync",
            token,
            {"scans": [body for _ticket, body in queued]},
        )
        # Matched by nonce: a scan the server could not take is left out (and
        # stays queued on a real phone; the demo lets it go).
        results = {result.get("nonce"): result for result in answer["results"]}
        for ticket, body in queued:
            if body["nonce"] in results:
                self._note_scan(ticket, results[body["nonce"]])
        self.tally.synced += len(queued)
        self.tally.conflicts += int(answer["counts"].get("conflict", 0))
        for socket in sockets:
            await socket.report(0)
        self.say(
            f"  {clock_text(change.at)}  {GATE_NAMES[change.gate]}: back online, synced "
            f"{len(queued)} scans, {answer['counts'].get('conflict', 0)} conflict"
        )

    async def _stock(self, move: StockMove) -> None:
        try:
            await self._limited(
                call(
                    self.http,
                    "POST",
                    f"/api/v1/events/{self.event.event_id}/stock/movements",
                    self.event.staff_token,
                    {
                        "kind": move.kind,
                        "item": self.event.items[move.item],
                        "quantity": move.quantity,
                        "reason": move.reason,
                        "nonce": uuid.uuid4().hex,
                    },
                )
            )
            self.tally.stock_moves += 1
        except ApiError as exc:
            if exc.status != 409:  # insufficient stock: the desk ran out, as desks do
                raise
            self.tally.stock_refused += 1

    async def _drill(self, drill: Drill) -> None:
        """The fire drill: started by the command centre, people accounted at
        the assembly point by floor staff scanning badges, then all clear."""
        event = self.event
        if drill.step == "start":
            started = await call(
                self.http,
                "POST",
                f"/api/v1/events/{event.event_id}/evacuations",
                event.command_token,
                {
                    "kind": "drill",
                    "zones": [event.zones[DRILL_ZONE]],
                    "message": f"消防演练：请到{DRILL_POINT} · Fire drill: go to the {DRILL_POINT}",
                },
            )
            self.drill = started["id"]
            self.drill_roll = sorted(t for t, zone in self.where.items() if zone == DRILL_ZONE)
            self.say(
                f"  {clock_text(drill.at)}  fire drill: {len(self.drill_roll)} people to account"
            )
            return
        if self.drill is None:
            return
        if drill.step == "account":
            count = round(drill.share * len(self.drill_roll))
            batch, self.drill_roll = self.drill_roll[:count], self.drill_roll[count:]
            accounts = [
                {
                    "nonce": uuid.uuid4().hex,
                    "secret": event.tickets[ticket].secret,
                    "status": "needs_help" if index == 0 and drill.share < 0.3 else "safe",
                    "point": event.drill_point,
                }
                for index, ticket in enumerate(batch)
            ]
            for start in range(0, len(accounts), 500):
                await call(
                    self.http,
                    "POST",
                    f"/api/v1/evacuations/{self.drill}/accounts",
                    event.staff_token,
                    {"accounts": accounts[start : start + 500]},
                )
            self.tally.drill_accounts += len(accounts)
            return
        await call(
            self.http, "POST", f"/api/v1/evacuations/{self.drill}/all-clear", event.command_token
        )
        self.say(f"  {clock_text(drill.at)}  fire drill: all clear")
        self.drill = None

    async def _incident(self, step: IncidentStep) -> None:
        story = next(s for s in INCIDENTS if s.key == step.incident)
        base = f"/api/v1/events/{self.event.event_id}/incidents"
        if step.step == "report":
            place = (
                {"gate": self.event.gates[story.place]}
                if story.place in self.event.gates
                else {"zone": self.event.zones[story.place]}
            )
            answer = await call(
                self.http,
                "POST",
                base,
                self.event.staff_token,
                {
                    "category": story.category,
                    "severity": story.severity,
                    "title": story.title,
                    "equipment_tag": story.equipment_tag,
                    "nonce": uuid.uuid4().hex,
                    **place,
                },
            )
            self.incident_ids.setdefault(story.key, answer["id"])
            self.tally.incidents["reported"] += 1
            return
        incident = self.incident_ids.get(story.key)
        if incident is None:
            return
        command = self.event.command_token
        if step.step == "ack":
            await call(self.http, "POST", f"{base}/{incident}/ack", command, {"note": ""})
            self.tally.incidents["acknowledged"] += 1
        elif step.step == "assign":
            await call(
                self.http,
                "POST",
                f"{base}/{incident}/assign",
                command,
                {"assignee": story.assignee},
            )
        else:
            await call(self.http, "POST", f"{base}/{incident}/resolve", command, {"note": ""})
            self.tally.incidents["resolved"] += 1

    async def _report(self, now: float) -> None:
        try:
            counts = await call(
                self.http,
                "GET",
                f"/api/v1/events/{self.event.event_id}/headcount",
                self.event.command_token,
            )
        except (ApiError, httpx.HTTPError):
            return
        zones = ", ".join(f"{z['name'].split()[-1]} {z['inside']}" for z in counts["zones"])
        refused = sum(n for reason, n in self.tally.scans.items() if reason != "ok")
        self.say(
            f"  {clock_text(now)}  inside {counts['inside']} ({zones}); scans "
            f"{sum(self.tally.scans.values())}, refused {refused}; incidents "
            f"{self.tally.incidents['reported']}, stock moves {self.tally.stock_moves}"
        )


def lane_of(action: Action) -> tuple[str, Any]:
    if isinstance(action, Scan | Revoke):
        return ("ticket", action.ticket)
    if isinstance(action, IncidentStep):
        return ("incident", action.incident)
    if isinstance(action, StockMove):
        return ("item", action.item)
    if isinstance(action, Offline):
        return ("door", action.gate)
    if isinstance(action, Drill):
        return ("drill", 0)
    return ("forged", id(action))


def clock_text(minute: float) -> str:
    whole = int(minute)
    return f"{whole // 60:02}:{whole % 60:02}"
