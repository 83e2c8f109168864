"""Prometheus metrics: a few counters and a latency histogram, in process.

Kept deliberately small (no client library): label sets are bounded by the
route templates, and every update is a dict operation on the request path.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Registry:
    def __init__(self) -> None:
        self.counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        self.histograms: dict[tuple[str, str], list[float]] = {}
        self.gauges: dict[str, Callable[[], float]] = {}
        self.help: dict[str, str] = {}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        self.counters[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, route: str, seconds: float) -> None:
        key = (name, route)
        counts = self.histograms.get(key)
        if counts is None:
            counts = self.histograms[key] = [0.0] * (len(BUCKETS) + 2)
        for i, edge in enumerate(BUCKETS):
            if seconds <= edge:
                counts[i] += 1
                break
        else:
            counts[len(BUCKETS)] += 1
        counts[-1] += seconds

    def gauge(self, name: str, read: Callable[[], float], help_text: str) -> None:
        self.gauges[name] = read
        self.help[name] = help_text

    def render(self) -> str:
        lines: list[str] = []
        for (name, labels), value in sorted(self.counters.items()):
            label_text = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value}")
        for (name, route), counts in sorted(self.histograms.items()):
            running = 0.0
            for edge, count in zip(BUCKETS, counts, strict=False):
                running += count
                lines.append(f'{name}_bucket{{route="{route}",le="{edge}"}} {running}')
            total = running + counts[len(BUCKETS)]
            lines.append(f'{name}_bucket{{route="{route}",le="+Inf"}} {total}')
            lines.append(f'{name}_count{{route="{route}"}} {total}')
            lines.append(f'{name}_sum{{route="{route}"}} {counts[-1]}')
        for name, read in sorted(self.gauges.items()):
            lines.append(f"# HELP {name} {self.help[name]}")
            lines.append(f"# TYPE {name} gauge")
            lines.append(f"{name} {read()}")
        return "\n".join(lines) + "\n"


class MetricsMiddleware:
    """Counts requests by route template and status, and times them."""

    def __init__(self, app: ASGIApp, registry: Registry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = _route_template(scope)
            self.registry.inc(
                "muster_http_requests_total",
                method=scope["method"],
                route=route,
                status=str(status),
            )
            self.registry.observe(
                "muster_http_request_seconds", route, time.perf_counter() - started
            )


def _route_template(scope: Scope) -> str:
    # The router records the matched route in the scope (the same dict this
    # middleware passed down), so no second matching pass is needed.
    route = scope.get("route")
    return getattr(route, "path", "unmatched") if route is not None else "unmatched"
