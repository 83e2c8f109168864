"""The staff app opens with no network at all only if its service worker
precached every module it loads: walk the imports from ``pwa/app/main.js``
(static and dynamic, through ``pwa/shared/`` and the vendored libraries) and
check each file is in ``pwa/app/sw.js``'s precache list."""

from __future__ import annotations

import re
from pathlib import Path

PWA = Path(__file__).resolve().parent.parent / "pwa"
IMPORT = re.compile(
    r"""(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)"""
)


def served_path(importer: str, spec: str) -> str:
    """The URL path an import resolves to, from the URL path of its importer."""
    if spec.startswith("/"):
        return spec
    parts = importer.split("/")[:-1]
    for piece in spec.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def loaded_modules(entry: str) -> set[str]:
    seen: set[str] = set()
    todo = [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        text = (PWA / path.lstrip("/")).read_text(encoding="utf-8")
        for static, dynamic in IMPORT.findall(text):
            spec = static or dynamic
            if spec.startswith(("/", ".")):  # a bare name is a doc comment's example
                todo.append(served_path(path, spec))
    return seen


def test_every_module_the_app_loads_is_precached() -> None:
    worker = (PWA / "app" / "sw.js").read_text(encoding="utf-8")
    precached = set(re.findall(r'^\s*"(/[^"]+)",', worker, re.MULTILINE))
    loaded = loaded_modules("/app/main.js")
    assert "/shared/outbox.js" in loaded and "/vendor/noble-ed25519/index.js" in loaded
    assert sorted(loaded - precached) == []
