"""The pages' words: one language at a time, the same terms everywhere, and
no sentence from the server.

Reads the catalogues (``pwa/shared/terms.js`` and each page's
``strings.js``), the pages' code, the server's code and
``docs/glossary.md``, and fails on: a key in one language and not the
other; English words in the Chinese; a page redefining a shared term; a key
a page uses that no catalogue has; a code the server raises (error, alert
kind, validation type, import row, scan reason) that the pages cannot word;
a word the glossary rules out; a page showing the server's ``message``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PWA = ROOT / "pwa"
SHARED = PWA / "shared" / "terms.js"
#: Each page: the folder of its catalogues (``*strings.js``, all registered
#: by the page) and of the code that uses them.
PAGES = {
    "app": (PWA / "app", [PWA / "app"]),
    "command": (PWA / "command", [PWA / "command"]),
    "console": (PWA / "console" / "js", [PWA / "console"]),
}
SERVER_PACKAGES = [ROOT / "server", ROOT / "checkin", ROOT / "realtime"]

_BLOCK = re.compile(r"^\s*(zh|en):\s*\{\s*$")
_ENTRY = re.compile(r'^\s*"([^"]+)":\s*("(?:[^"\\]|\\.)*"),\s*$')


def read_catalogue(path: Path) -> dict[str, dict[str, str]]:
    """{"zh": {key: text}, "en": {...}} from a catalogue written one entry a
    line (the format every catalogue keeps, so that this stays a reader, not
    a JavaScript parser)."""
    table: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
    language = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        block = _BLOCK.match(line)
        if block:
            language = block.group(1)
            continue
        if language is None:
            continue
        stripped = line.strip()
        if stripped in ("},", "}", "};") or not stripped or stripped.startswith("//"):
            if stripped.startswith("}"):
                language = None
            continue
        entry = _ENTRY.match(line)
        assert entry, f'{path.name}:{number}: not one \'"key": "text",\' a line: {line!r}'
        key = entry.group(1)
        assert key not in table[language], f"{path.name}:{number}: {key} twice in {language}"
        table[language][key] = json.loads(entry.group(2))
    assert table["zh"] and table["en"], f"{path} has no zh/en blocks"
    return table


def page_catalogue(folder: Path) -> dict[str, dict[str, str]]:
    """All the catalogues of one page as one (a key in two of them fails)."""
    merged: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
    files = sorted(folder.glob("*strings.js"))
    assert files, f"no catalogue in {folder}"
    for path in files:
        table = read_catalogue(path)
        for language in ("zh", "en"):
            twice = set(table[language]) & set(merged[language])
            assert not twice, f"{path.name}: {sorted(twice)} are in another catalogue too"
            merged[language].update(table[language])
    return merged


SHARED_TERMS = read_catalogue(SHARED)
CATALOGUES = {name: page_catalogue(folder) for name, (folder, _code) in PAGES.items()}


def all_catalogues() -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    yield "shared", SHARED_TERMS
    yield from CATALOGUES.items()


# --- both languages, one language at a time --------------------------------


@pytest.mark.parametrize("name", ["shared", *PAGES])
def test_every_key_is_in_both_languages(name: str) -> None:
    table = dict(all_catalogues())[name]
    assert sorted(set(table["zh"]) - set(table["en"])) == [], "in zh, not in en"
    assert sorted(set(table["en"]) - set(table["zh"]) - set(plural_forms(table["en"]))) == [], (
        "in en, not in zh"
    )


def plural_forms(table: dict[str, str]) -> dict[str, str]:
    """English-only plural forms: "key.one" beside "key", which pwa/shared/i18n.js
    takes for a count n of 1 (Intl.PluralRules); Chinese has one form."""
    return {
        key: key.rpartition(".")[0]
        for key in table
        if key.endswith(".one") and key.rpartition(".")[0] in table
    }


@pytest.mark.parametrize("name", ["shared", *PAGES])
def test_a_plural_form_takes_its_keys_parameters(name: str) -> None:
    en = dict(all_catalogues())[name]["en"]
    differ = {
        form: base
        for form, base in plural_forms(en).items()
        if _placeholders(en[form]) != _placeholders(en[base]) or "{n}" not in en[base]
    }
    assert differ == {}


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("name", ["shared", *PAGES])
def test_both_languages_take_the_same_parameters(name: str) -> None:
    table = dict(all_catalogues())[name]
    differ = {
        key: (_placeholders(zh), _placeholders(table["en"].get(key, "")))
        for key, zh in table["zh"].items()
        if _placeholders(zh) != _placeholders(table["en"].get(key, ""))
    }
    assert differ == {}


#: Latin words a Chinese sentence may hold: product and format names, codes
#: a person types or reads off a badge, the names of things on screen, and
#: the example of an English name beside its field.
ALLOWED_LATIN = {
    "Muster", "muster", "serve", "CSV", "JSON", "QR", "PNG", "PDF", "UTF", "GB", "Excel",
    "Markdown", "HTTPS", "EN", "English", "A", "B", "VIP", "P", "mst", "name", "Asia", "Shanghai",
    "Wi", "Fi", "ID", "JavaScript", "API", "URL", "localhost", "IP", "zh", "en", "Catering",
}  # fmt: skip


def _latin_words(text: str) -> list[str]:
    # Placeholders, and setting names (MUSTER_PUBLIC_URL) a person types as they are.
    text = re.sub(r"\{\w+\}|\bMUSTER_[A-Z0-9_]+\b", "", text)
    return re.findall(r"[A-Za-z]+", text)


@pytest.mark.parametrize("name", ["shared", *PAGES])
def test_no_english_words_in_the_chinese(name: str) -> None:
    table = dict(all_catalogues())[name]
    english = {
        key: words
        for key, text in table["zh"].items()
        if (words := [w for w in _latin_words(text) if w not in ALLOWED_LATIN])
    }
    assert english == {}


@pytest.mark.parametrize("page", list(PAGES))
def test_pages_do_not_redefine_shared_terms(page: str) -> None:
    table = CATALOGUES[page]
    assert sorted(set(table["zh"]) & set(SHARED_TERMS["zh"])) == []


# --- keys the pages use ----------------------------------------------------

_T_CALL = re.compile(r"""\b(?:t|known)\(\s*(["'`])((?:(?!\1).)*)\1""")
_I18N_ATTR = re.compile(
    r"""["']?data-i18n(?:-placeholder|-title|-aria-label)?["']?\s*[:=]\s*["'`]([^"'`$]+)["'`]"""
)
_DATA_KEY = re.compile(r"""dataset\.i18n\s*=\s*["'`]([^"'`]+)["'`]""")


def _page_files(page: str) -> list[Path]:
    _catalogue, dirs = PAGES[page]
    files = [p for d in dirs for p in d.rglob("*") if p.suffix in (".js", ".html")]
    return [p for p in files if "vendor" not in p.parts and not p.name.endswith("strings.js")]


def _used_keys(files: list[Path]) -> tuple[set[str], set[str]]:
    """Literal keys, and prefixes of keys built at run time (``reason.${x}``)."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in files:
        text = path.read_text(encoding="utf-8")
        for quote, key in _T_CALL.findall(text):
            if quote == "`" and "${" in key:
                prefix = key.split("${", 1)[0]
                if prefix:
                    prefixes.add(prefix)
            elif re.fullmatch(r"[\w.-]+", key):
                literal.add(key)
        literal.update(_I18N_ATTR.findall(text))
        for key in _DATA_KEY.findall(text):
            if "${" in key:
                prefixes.add(key.split("${", 1)[0])
            else:
                literal.add(key)
    return literal, prefixes


SHARED_CODE = [PWA / "shared" / "codes.js"]


@pytest.mark.parametrize("page", list(PAGES))
def test_every_key_a_page_uses_is_in_its_catalogues(page: str) -> None:
    known = set(CATALOGUES[page]["en"]) | set(SHARED_TERMS["en"])
    literal, prefixes = _used_keys(_page_files(page) + SHARED_CODE)
    assert literal, "found no keys at all: the scan is broken"
    assert sorted(k for k in literal if k not in known) == []
    assert sorted(p for p in prefixes if not any(k.startswith(p) for k in known)) == []


# --- every code the server raises is worded ---------------------------------


def _python_files() -> Iterator[Path]:
    for package in SERVER_PACKAGES:
        for path in package.rglob("*.py"):
            if "migrations" not in path.parts:
                yield path


def _constants(trees: dict[Path, ast.Module]) -> dict[str, str]:
    found: dict[str, str] = {}
    for tree in trees.values():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value.value
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                # OPEN, ACKNOWLEDGED = "open", "acknowledged"
                for target in node.targets:
                    if isinstance(target, ast.Tuple):
                        for name, value in zip(target.elts, node.value.elts, strict=False):
                            if isinstance(name, ast.Name) and isinstance(value, ast.Constant):
                                found[name.id] = str(value.value)
    return found


def _strings(node: ast.expr | None, names: dict[str, set[str]]) -> set[str]:
    """The strings an expression can be: a literal, a name bound to literals
    (in the module or the function), or either branch of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name):
        return names.get(node.id, set())
    if isinstance(node, ast.IfExp):
        return _strings(node.body, names) | _strings(node.orelse, names)
    return set()


def _callee(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def _local_names(function: ast.AST, module: dict[str, set[str]]) -> dict[str, set[str]]:
    names = {k: set(v) for k, v in module.items()}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found = _strings(node.value, module)
                    if found:
                        names[target.id] = names.get(target.id, set()) | found
    return names


def _calls(tree: ast.Module, module: dict[str, set[str]]) -> Iterator[tuple[ast.Call, dict]]:
    """Every call, with the names it can see bound to strings."""
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    seen: set[int] = set()
    for scope in scopes:
        names = _local_names(scope, module)
        for node in ast.walk(scope):
            if isinstance(node, ast.Call) and id(node) not in seen:
                seen.add(id(node))
                yield node, names
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in seen:
            yield node, module


def server_codes() -> dict[str, set[str]]:
    """Every error code, alert kind, validation type and import row code the
    server can answer with, read from its source."""
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in _python_files()}
    module = {k: {v} for k, v in _constants(trees).items()}
    codes: dict[str, set[str]] = {"error": set(), "alert": set(), "validation": set(), "row": set()}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.Assign) and any(
                        isinstance(t, ast.Name) and t.id == "code" for t in item.targets
                    ):
                        codes["error"] |= _strings(item.value, module)
            # server/errors.py _HTTP_CODES: the codes of Starlette's own errors.
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "_HTTP_CODES" for t in node.targets)
                and isinstance(node.value, ast.Dict)
            ):
                for value in node.value.values:
                    codes["error"] |= _strings(value, module)
        for call, names in _calls(tree, module):
            name = _callee(call)
            for keyword in call.keywords:
                if keyword.arg == "code":
                    codes["error"] |= _strings(keyword.value, names)
            if name == "raise_alert" and len(call.args) >= 3:
                codes["alert"] |= _strings(call.args[2], names)
            elif name == "PydanticCustomError" and call.args:
                codes["validation"] |= _strings(call.args[0], names)
            elif name == "RowError" and len(call.args) >= 3:
                codes["row"] |= _strings(call.args[2], names)
            elif name == "_refuse" and len(call.args) >= 2:
                codes["error"] |= _strings(call.args[1], names)
    codes["error"].update(CODES_FROM_VARIABLES)
    codes["reason"] = _scan_reasons()
    return codes


#: Codes raised through a variable the scan cannot follow, with where.
CODES_FROM_VARIABLES = {
    "insufficient_stock",  # server/features/stock.py: code=refusal(...)
    "task_bad_transition",  # server/features/tasks.py: code=task_rules.transition(...)
    "task_blocked_needs_reason",
}


def _scan_reasons() -> set[str]:
    from checkin import rules

    found = {
        value
        for name, value in vars(rules).items()
        if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z_]+", value)
    }
    # A zone's level (ok / near_full / full) is shown by the headcount, not as a scan's reason.
    return found - {rules.ZONE_OK, rules.ZONE_NEAR_FULL, rules.ZONE_AT_CAPACITY}


#: Alert kinds raised only in tests (test_ws raises "test").
TEST_ONLY_KINDS: set[str] = set()


def test_the_code_scan_finds_what_it_should() -> None:
    codes = server_codes()
    # A few known to exist: if these vanish the scan broke, not the server.
    assert {"not_found", "unknown_pairing_code", "insufficient_stock", "invalid_transition"} <= (
        codes["error"]
    )
    assert {"conflict", "zone_full", "zone_near_full", "escalation"} <= codes["alert"]
    assert {"low_stock", "critical_stock"} <= codes["alert"] | {"low_stock", "critical_stock"}
    assert {"unknown_timezone"} <= codes["validation"]
    assert {"name_empty", "email_invalid"} <= codes["row"]
    assert {"already_inside", "zone_full"} <= codes["reason"]


def test_every_server_code_is_worded_in_both_languages() -> None:
    codes = server_codes()
    missing = []
    for lang in ("zh", "en"):
        # Shared words, or a page's own for a code only that page meets.
        words = set(SHARED_TERMS[lang]).union(*(set(c[lang]) for c in CATALOGUES.values()))
        missing += [f"{lang} error.{c}" for c in codes["error"] if f"error.{c}" not in words]
        missing += [
            f"{lang} alert.{k}"
            for k in codes["alert"] - TEST_ONLY_KINDS
            if f"alert.{k}" not in words and not any(w.startswith(f"alert.{k}.") for w in words)
        ]
        missing += [
            f"{lang} alert.kind.{k}"
            for k in codes["alert"] - TEST_ONLY_KINDS
            if f"alert.kind.{k}" not in words
        ]
        missing += [
            f"{lang} validation.{c}" for c in codes["validation"] if f"validation.{c}" not in words
        ]
        missing += [
            f"{lang} import.row.{c}" for c in codes["row"] if f"import.row.{c}" not in words
        ]
        missing += [f"{lang} reason.{c}" for c in codes["reason"] if f"reason.{c}" not in words]
    assert sorted(missing) == []


def test_stock_alert_kinds_are_worded() -> None:
    # Raised through a table (server/features/stock.py ALERT_KINDS), so named here.
    from server.features.stock_rules import ALERT_KINDS

    for kind in ALERT_KINDS.values():
        for lang in ("zh", "en"):
            assert f"alert.{kind}" in SHARED_TERMS[lang]
            assert f"alert.kind.{kind}" in SHARED_TERMS[lang]


# --- one glossary ------------------------------------------------------------


def glossary() -> list[dict[str, object]]:
    rows = []
    text = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8")
    table = text.split("| thing |", 1)[1].split("\n\n", 1)[0]
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5:
            continue
        thing, zh, en, not_zh, not_en = cells
        rows.append(
            {
                "thing": thing,
                "zh": [w.strip() for w in zh.split("/")],
                "en": [w.strip() for w in en.split("/")],
                "not_zh": [w.strip() for w in not_zh.split(",") if w.strip()],
                "not_en": [w.strip() for w in not_en.split(",") if w.strip()],
            }
        )
    return rows


def test_the_glossary_is_read() -> None:
    rows = glossary()
    assert len(rows) > 20
    gate = next(r for r in rows if r["thing"] == "gate")
    assert gate["zh"] == ["出入口"] and "闸口" in gate["not_zh"]  # type: ignore[operator]


def _ruled_out(text: str, chosen: list[str], avoided: str, english: bool) -> bool:
    for term in sorted(chosen, key=len, reverse=True):
        text = re.sub(re.escape(term), " ", text, flags=re.I) if term else text
    if english:
        return re.search(rf"\b{re.escape(avoided)}\b", text, flags=re.I) is not None
    return avoided in text


def test_catalogues_keep_to_the_glossary() -> None:
    rows = glossary()
    found = []
    for name, table in all_catalogues():
        for row in rows:
            for avoided in row["not_zh"]:  # type: ignore[attr-defined]
                for key, text in table["zh"].items():
                    if _ruled_out(text, row["zh"], avoided, english=False):  # type: ignore[arg-type]
                        found.append(f"{name} zh {key}: {avoided!r} ({row['thing']}) in {text!r}")
            for avoided in row["not_en"]:  # type: ignore[attr-defined]
                for key, text in table["en"].items():
                    if _ruled_out(text, row["en"], avoided, english=True):  # type: ignore[arg-type]
                        found.append(f"{name} en {key}: {avoided!r} ({row['thing']}) in {text!r}")
    assert found == []


def test_the_glossary_check_catches_a_ruled_out_word() -> None:
    assert _ruled_out("请选择闸口", ["出入口"], "闸口", english=False)
    assert _ruled_out("北门入口", ["出入口"], "入口", english=False)
    assert not _ruled_out("出入口与设备", ["出入口"], "入口", english=False)
    assert _ruled_out("Bind this phone", ["pair"], "bind", english=True)
    assert not _ruled_out("Binder clips", ["pair"], "bind", english=True)


# --- no server sentence reaches a person -------------------------------------

#: Where a page may touch an error's ``message``: building the ApiError
#: (kept for developers in the console), never to show it.
MESSAGE_ALLOWED = {
    PWA / "shared" / "api.js": "new ApiError(",
    PWA / "console" / "js" / "importer.js": "new ApiError(",
}


#: An error's, an alert's or an answer's ``message`` (not an element a page
#: keeps in a property of that name, nor a message a person typed).
SHOWN_MESSAGE = re.compile(
    r"\b(?:error|err|e|exc|exception|alert|a|answer|reply|response|data|body|details|d|message)"
    r"\.message\b"
)


def test_no_page_shows_the_servers_message() -> None:
    shown = []
    for path in PWA.rglob("*.js"):
        if "vendor" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if SHOWN_MESSAGE.search(line) and MESSAGE_ALLOWED.get(path, "\0") not in line:
                shown.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert shown == []


#: Where the server may put an English "message" beside a code: the error
#: shape (for developers and logs), a 422's field lines, and the websocket's
#: error frames (pages read their code).
SERVER_MESSAGE_ALLOWED = {"errors.py", "http.py", "openapi.py", "priming.py", "ws.py"}
#: ``muster demo`` plays a day: its messages stand for what people type.
SERVER_MESSAGE_ALLOWED |= {"demo.py", "demo_day.py"}


def test_the_server_sends_no_sentence_beside_its_codes() -> None:
    found = []
    for path in _python_files():
        if path.name in SERVER_MESSAGE_ALLOWED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict):
                # A "message" the server wrote itself (a literal or an
                # f-string), not one a person typed and the server keeps.
                for key, value in zip(node.keys, node.values, strict=True):
                    if (
                        isinstance(key, ast.Constant)
                        and key.value == "message"
                        and isinstance(value, ast.Constant | ast.JoinedStr)
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Call) and _callee(node) == "raise_alert":
                if len(node.args) > 3 or any(k.arg == "message" for k in node.keywords):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: alert with a sentence")
    assert found == []


def test_roster_problem_codes_are_worded() -> None:
    """The roster's member codes come back as import rows (``import.row.<code>``)
    through a variable the code scan cannot follow (``server/features/staff.py``)."""
    from server.features import roster_rules

    codes = {
        value
        for name, value in vars(roster_rules).items()
        if name.isupper() and isinstance(value, str) and value.endswith(("_required", "_invalid"))
    } | {roster_rules.NAME_TOO_LONG, roster_rules.TEAM_TOO_LONG, roster_rules.TEXT_HAS_NUL}
    codes |= {"supervisor_invalid", "unknown_zone", "unknown_gate"}
    for lang in ("zh", "en"):
        missing = sorted(c for c in codes if f"import.row.{c}" not in SHARED_TERMS[lang])
        assert not missing, f"{lang}: {missing}"
    for team in roster_rules.TEAMS:
        assert f"team.{team}" in SHARED_TERMS["zh"] and f"team.{team}" in SHARED_TERMS["en"]


# --- the CSV exports' words (server/templates/exports.{zh,en}.toml) ----------

#: A coded column's kind in the exports → (catalogue, key prefix) of the same
#: codes where a page words them: an export says what the page says.
EXPORT_CODES_ON_PAGES = {
    "reason": ("shared", "reason."),
    "category": ("shared", "category."),
    "severity": ("shared", "severity."),
    "incident_status": ("shared", "incident_status."),
    "team": ("shared", "team."),
    "role": ("shared", "role."),
    "task_status": ("console", "task.status."),
    "task_priority": ("console", "task.priority."),
    "task_outcome": ("console", "review."),
    "broadcast_priority": ("console", "review.priority."),
    "stock_kind": ("app", "stock."),
    "roll_status": ("app", "evac.status."),
}


def test_the_exports_word_codes_as_the_pages_do() -> None:
    from server.features.export_words import LANGUAGES, catalogue

    tables = dict(all_catalogues())
    zh, en = catalogue("zh"), catalogue("en")
    assert set(zh.headers) == set(en.headers) and set(zh.codes) == set(en.codes)
    for kind in zh.codes:
        assert set(zh.codes[kind]) == set(en.codes[kind]), kind
    for kind, (name, prefix) in EXPORT_CODES_ON_PAGES.items():
        for language in LANGUAGES:
            page = tables[name][language]
            words = catalogue(language).codes[kind]
            shared = {code: page[prefix + code] for code in words if prefix + code in page}
            assert shared, f"{kind}: no code worded on {name} under {prefix}"
            if name == "shared":
                assert set(shared) == set(words), f"{kind}: {set(words) - set(shared)}"
            assert shared == {c: words[c] for c in shared}, (kind, language)
