"""CSV exports in the reader's language (``?lang=zh`` or ``?lang=en``).

Without ``lang`` an export keeps its machine-readable form (snake_case
headers, raw codes, ``true``/``false``, ``0``/``1``): scripts and other tools
read those, so they never change. With it, each header and each coded cell
(statuses, priorities, kinds, roles, built-in teams, booleans) is the word of
that language, from ``server/templates/exports.{zh,en}.toml``; text that is
not a known code (a team of the event's own, a name) stays as written.

A time column ``*_at`` (or ``at``) holds an ISO instant in UTC and says so in its
translated header ("扫码时间 (UTC)"); its local twin, headed
``scanned_at (Asia/Shanghai)``, keeps the zone in brackets. Every export
starts with a byte-order mark either way (``spreadsheet``), so Excel reads
the Chinese as UTF-8.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from server.errors import InvalidRequest
from server.features import spreadsheet

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("zh", "en")
#: The kind of the coded cells ``True``/``False`` and ``1``/``0``.
BOOLEAN = "boolean"

#: The query parameter's schema (``@reads(lang=LANG)``).
LANG = {"type": "string", "enum": list(LANGUAGES)}

_LOCAL = re.compile(r"^(\w+) \((.+)\)$")


@dataclass(frozen=True)
class ExportWords:
    """One language's headers ({name: word}) and codes ({kind: {code: word}})."""

    headers: Mapping[str, str]
    codes: Mapping[str, Mapping[str, str]]

    def header(self, name: str) -> str:
        local = _LOCAL.match(name)
        if local:
            return f"{self.headers[local.group(1)]} ({local.group(2)})"
        word = self.headers[name]
        return f"{word} (UTC)" if name == "at" or name.endswith("_at") else word

    def value(self, kind: str, value: Any) -> Any:
        if value is None or value == "":
            return value
        if kind == BOOLEAN:
            return self.codes[BOOLEAN]["true" if value else "false"]
        return self.codes[kind].get(str(value), value)


@cache
def catalogue(language: str) -> ExportWords:
    with (TEMPLATES / f"exports.{language}.toml").open("rb") as f:
        table = tomllib.load(f)
    codes = {
        kind: {str(k): str(v) for k, v in words.items()} for kind, words in table["codes"].items()
    }
    return ExportWords({k: str(v) for k, v in table["headers"].items()}, codes)


def export_words(lang: str | None) -> ExportWords | None:
    """The words of ``?lang=`` (None without it: the machine-readable export);
    422 ``unknown_export_language`` for another value."""
    if lang is None:
        return None
    if lang not in LANGUAGES:
        raise InvalidRequest(
            f"lang is one of {', '.join(LANGUAGES)}.",
            {"languages": list(LANGUAGES)},
            code="unknown_export_language",
        )
    return catalogue(lang)


def lang_of(query: Mapping[str, str]) -> ExportWords | None:
    """The words of a request's ``?lang=`` (``request.query_params``); given
    twice (``?lang=zh&lang=en``) it is refused like an unknown one: which
    was meant cannot be told."""
    getlist = getattr(query, "getlist", None)  # a multi-dict keeps every value given
    given = getlist("lang") if getlist is not None else []
    if len(given) > 1:
        raise InvalidRequest(
            f"lang is given once, one of {', '.join(LANGUAGES)}.",
            {"languages": list(LANGUAGES)},
            code="unknown_export_language",
        )
    return export_words(query.get("lang"))


Row = Callable[[Any], Sequence[Any]]


def worded(
    words: ExportWords | None, header: Sequence[str], coded: Mapping[str, str], row: Row
) -> tuple[Sequence[str], Row]:
    """The header and the row function of an export in ``words``' language:
    ``coded`` names the kind of each coded column ({"status": "task_status"})."""
    if words is None:
        return header, row
    kinds = [(i, coded[name]) for i, name in enumerate(header) if name in coded]

    def worded_row(r: Any) -> Sequence[Any]:
        cells = list(row(r))
        for i, kind in kinds:
            cells[i] = words.value(kind, cells[i])
        return cells

    return [words.header(name) for name in header], worded_row


def worded_table(
    words: ExportWords | None,
    header: Sequence[str],
    coded: Mapping[str, str],
    rows: Iterable[Sequence[Any]],
) -> str:
    """A whole CSV text (``spreadsheet.table``) in ``words``' language."""
    worded_header, row = worded(words, header, coded, list)
    return spreadsheet.table(worded_header, (row(r) for r in rows))
