"""`policylang demo`: the README's first command, on the embedded SQLite ledger."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_reserves_through_sqlite_and_explains_each_decision(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "policylang.cli", "demo"], capture_output=True, text=True,
                            cwd=tmp_path, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "sqlite:///" in out
    # 1. Private banking called Ada the day before: the weekly call cap and "one voice" deny
    #    cards; one voice holds until 14 days after that call (2026-11-23 15:00Z).
    first, second, third = out.split("\n1. ")[1].split("\n2. ")[0], out.split("\n2. ")[1].split("\n3. ")[0], out.split("\n3. ")[1]
    assert 'DENIED by "one sales call a week", "one voice"' in first
    assert "2026-12-07T15:00:00+00:00" in first
    # 2. Bo is owned by cards, and the owner is exempt from "one voice": allowed and recorded.
    assert "ALLOWED" in second and "reserved and confirmed as sent" in second
    # 3. Growth an hour after cards' email: "one voice" now denies, 14 days after cards' email.
    assert 'DENIED by "one voice"' in third
    assert "2026-12-08T15:00:00+00:00" in third
