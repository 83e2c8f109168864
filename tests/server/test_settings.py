"""Every setting is documented in the README with its default."""

from __future__ import annotations

import re

from server.settings import DOCUMENTED, REPO_ROOT, load_settings


def test_every_setting_is_in_the_readme():
    load_settings({})
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(MUSTER_[A-Z_]+)` \|", readme, re.MULTILINE))
    missing = set(DOCUMENTED) - rows
    assert not missing, f"settings missing from the README table: {sorted(missing)}"
    stale = rows - set(DOCUMENTED)
    assert not stale, f"README lists settings the code does not read: {sorted(stale)}"


def test_defaults_and_overrides(tmp_path):
    default = load_settings({"MUSTER_DATA_DIR": str(tmp_path)})
    assert default.is_sqlite and str(tmp_path) in str(default.database_url)
    assert default.annul_window_seconds == 120
    pg = load_settings(
        {"MUSTER_DATABASE_URL": "postgresql+asyncpg://u@h/db", "MUSTER_PORT": "9000"}
    )
    assert not pg.is_sqlite and pg.port == 9000
    assert "u@h" not in repr(pg.database_url)
