"""``policylang ledger init|import|export|show`` and ``policylang reserve|confirm|release``."""

# ruff: noqa: F811 - pytest fixtures imported from tests.ledger_fixtures are parameters here
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policylang.cli import main
from policylang.ledger import SCHEMA_VERSION, open_ledger
from tests.ledger_fixtures import POLICY_TEXT, fresh_url, pg_url_or_skip  # noqa: F401


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A policy file, a default ledger via $POLICYLANG_LEDGER, and request/customer files."""
    (tmp_path / "p.pol").write_text(POLICY_TEXT)
    url = f"sqlite:///{tmp_path}/default.sqlite"
    monkeypatch.setenv("POLICYLANG_LEDGER", url)
    assert main(["ledger", "init", "--ledger", url]) == 0  # only `ledger init` creates a ledger
    (tmp_path / "ada.json").write_text(json.dumps({"id": "ada", "owner": "gold"}))
    for team in ("gold", "bronze"):
        (tmp_path / f"{team}.json").write_text(json.dumps(
            {"team": team, "channel": "email", "purpose": "marketing", "at": "2026-11-24T10:00:00Z"}
        ))  # fmt: skip
    return {"dir": str(tmp_path), "policy": str(tmp_path / "p.pol"), "url": url}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def line_numbers(err: str, name: str) -> list[int]:
    return sorted({int(n) for n in re.findall(re.escape(name) + r":(\d+):", err)})


GOOD = {"customer": "ada", "at": "2026-11-23T15:00:00+00:00", "channel": "phone", "purpose": "marketing",
        "team": "gold", "status": "sent", "outcome": "delivered"}  # fmt: skip
BAD_LINES = [
    '{"customer": "ada", "at": "2026-11-23T15:00:00", "event": "complaint"}',  # no offset
    '{"at": "2026-11-23T15:00:00Z", "event": "complaint"}',  # no customer
    '{"customer": "ada", "at": "2026-11-23T15:00:00Z", "event": "complain"}',  # undeclared event
    '{"customer": "ada", "at": "2026-11-23T15:00:00Z", "channel": "fax", "purpose": "marketing", "team": "gold"}',
    '{"customer": "ada", "at": "2026-11-23T15:00:00Z", "channel": "sms", "purpose": "marketing"}',  # no team
    '{"customer": "ada", "at": "2026-11-23T15:00:00Z"',  # broken JSON
    '["a list"]',
]


def good_line(i: int) -> str:
    return json.dumps({**GOOD, "customer": f"c{i}", "at": f"2026-11-{1 + i % 28:02d}T15:00:00Z"})


# ---- import -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.one_of(st.just("good"), st.just("blank"), st.sampled_from(BAD_LINES)), max_size=12))
def test_import_reports_every_bad_line_and_writes_nothing_unless_all_are_good(
    kinds: list[str], setup: dict[str, str], capsys: pytest.CaptureFixture[str], tmp_path_factory: Any
) -> None:
    folder = tmp_path_factory.mktemp("imp")
    lines = [good_line(i) if k == "good" else "" if k == "blank" else k for i, k in enumerate(kinds)]
    path = folder / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    url = f"sqlite:///{folder}/l.sqlite"
    open_ledger(url, create=True).close()
    code, out, err = run(capsys, "ledger", "import", "--policy", setup["policy"], "--ledger", url, str(path))
    bad = [i + 1 for i, k in enumerate(kinds) if k not in ("good", "blank")]
    with open_ledger(url) as ledger:
        stored = list(ledger.export())
    if bad:
        assert code == 2
        assert line_numbers(err, "in.jsonl") == bad
        assert stored == []
    else:
        assert code == 0, err
        assert len(stored) == kinds.count("good")
        assert f"imported {len(stored)} entries" in out


def test_csv_round_trip_through_export_and_import(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d = setup["dir"]
    lines = [good_line(i) for i in range(3)] + [
        json.dumps({"customer": "c9", "at": "2026-11-02T09:00:00+01:00", "event": "complaint"}),
        json.dumps({**GOOD, "status": "planned", "campaign": "winter, \"special\"", "id": "x1"}),
    ]
    Path(d, "in.jsonl").write_text("\n".join(lines))
    assert run(capsys, "ledger", "import", "--policy", setup["policy"], f"{d}/in.jsonl")[0] == 0
    assert run(capsys, "ledger", "export", "--format", "csv", "-o", f"{d}/out.csv")[0] == 0
    second = f"sqlite:///{d}/second.sqlite"
    open_ledger(second, create=True).close()
    code, _, err = run(capsys, "ledger", "import", "--policy", setup["policy"], "--ledger", second, f"{d}/out.csv")
    assert code == 0, err
    _, first_jsonl, _ = run(capsys, "ledger", "export")
    _, second_jsonl, _ = run(capsys, "ledger", "export", "--ledger", second)
    assert first_jsonl == second_jsonl
    rows = [json.loads(x) for x in first_jsonl.splitlines()]
    assert rows[3] == {"at": "2026-11-02T08:00:00+00:00", "event": "complaint", "customer": "c9"}
    assert rows[4]["campaign"] == 'winter, "special"' and rows[4]["id"] == "x1"


def test_bad_csv_rows_are_reported_with_their_line(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d = setup["dir"]
    Path(d, "in.csv").write_text(
        "customer,at,channel,purpose,team\n"
        "ada,2026-11-23T15:00:00Z,phone,marketing,gold\n"
        "ada,2026-11-23T15:00:00,phone,marketing,gold\n"
        ",2026-11-23T15:00:00Z,phone,marketing,gold\n"
        "ada,2026-11-23T15:00:00Z,phone,marketing,gold,extra\n"
    )
    code, _, err = run(capsys, "ledger", "import", "--policy", setup["policy"], f"{d}/in.csv")
    assert code == 2 and line_numbers(err, "in.csv") == [3, 4, 5]
    assert run(capsys, "ledger", "export")[1] == ""


def test_customers_import_from_csv_types_cells_by_declaration(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d = setup["dir"]
    Path(d, "c.csv").write_text("id,owner,vip\nada,gold,true\nbob,,false\n")
    code, out, err = run(capsys, "ledger", "import", "--customers", "--policy", setup["policy"], f"{d}/c.csv")
    assert code == 0, err
    _, out, _ = run(capsys, "ledger", "export", "--customers")
    assert [json.loads(x) for x in out.splitlines()] == [
        {"id": "ada", "owner": "gold", "vip": True},
        {"id": "bob", "vip": False},
    ]
    Path(d, "bad.csv").write_text("id,owner,vip\nada,platinum,true\ncy,gold,maybe\n")
    code, _, err = run(capsys, "ledger", "import", "--customers", "--policy", setup["policy"], f"{d}/bad.csv")
    assert code == 2 and line_numbers(err, "bad.csv") == [2, 3]


# ---- reserve, confirm, release -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_reserve_confirm_release_for_scripts(kind: str, setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d, policy = setup["dir"], setup["policy"]
    url = fresh_url(kind, d)
    open_ledger(url, create=True).close()
    reserve = ("reserve", "--ledger", url, "--policy", policy)
    code, out, err = run(capsys, *reserve, "--customer", f"{d}/ada.json", "--request", f"{d}/bronze.json")
    assert code == 0, err
    first = json.loads(out)
    assert first["allowed"] and first["contact"]["status"] == "planned" and first["contact"]["customer"] == "ada"
    # the record was stored: later reservations can name the customer by id
    ids = [first["reservation"]]
    for _ in range(2):
        ids.append(json.loads(run(capsys, *reserve, "--customer-id", "ada", "--request", f"{d}/bronze.json")[1])["reservation"])
    denied = json.loads(run(capsys, *reserve, "--customer-id", "ada", "--request", f"{d}/bronze.json")[1])
    assert denied["reservation"] is None and denied["decision"]["denied_by"] == ["three a week"]
    gold = json.loads(run(capsys, *reserve, "--customer-id", "ada", "--request", f"{d}/gold.json")[1])
    assert gold["allowed"] and {c["id"] for c in gold["displaced"]} <= set(ids) and gold["displaced"]
    code, out, _ = run(capsys, "confirm", "--ledger", url, gold["reservation"], "--outcome", "delivered")
    assert code == 0 and json.loads(out)["state"] == "sent"
    displaced = gold["displaced"][0]["id"]
    code, _, err = run(capsys, "confirm", "--ledger", url, displaced)
    assert code == 1 and "displaced" in err
    kept = [i for i in ids if i not in {c["id"] for c in gold["displaced"]}]
    for rid in kept:
        assert json.loads(run(capsys, "release", "--ledger", url, rid)[1])["state"] == "released"
    code, _, err = run(capsys, "release", "--ledger", url, gold["reservation"])
    assert code == 1 and "already sent" in err
    code, _, err = run(capsys, "release", "--ledger", url, "no-such-id")
    assert code == 2 and "no reservation 'no-such-id'" in err


def test_reserve_refuses_bad_input_and_writes_nothing(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d, policy = setup["dir"], setup["policy"]
    Path(d, "naive.json").write_text('{"team": "gold", "channel": "email",\n "purpose": "marketing", "at": "2026-11-24T10:00"}')
    code, out, err = run(capsys, "reserve", "--policy", policy, "--customer", f"{d}/ada.json", "--request", f"{d}/naive.json")
    assert code == 2 and out == ""
    assert "naive.json:2:" in err and "`at`" in err
    code, _, err = run(capsys, "reserve", "--policy", policy, "--customer-id", "ada", "--request", f"{d}/gold.json")
    assert code == 2 and "no customer 'ada'" in err
    Path(d, "noid.json").write_text('{"owner": "gold"}')
    code, _, err = run(capsys, "reserve", "--policy", policy, "--customer", f"{d}/noid.json", "--request", f"{d}/gold.json")
    assert code == 2 and "`id`" in err
    code, _, err = run(capsys, "reserve", "--policy", policy, "--customer", f"{d}/ada.json", "--request", f"{d}/gold.json",
                       "--hold", "0")  # fmt: skip
    assert code == 2 and "--hold" in err
    assert run(capsys, "ledger", "export")[1] == ""
    assert run(capsys, "ledger", "export", "--customers")[1] == ""


def test_confirm_checks_the_outcome_against_the_policy(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d, policy = setup["dir"], setup["policy"]
    rid = json.loads(run(capsys, "reserve", "--policy", policy, "--customer", f"{d}/ada.json",
                         "--request", f"{d}/gold.json")[1])["reservation"]  # fmt: skip
    code, _, err = run(capsys, "confirm", rid, "--outcome", "conversation", "--policy", policy)
    assert code == 2 and "delivered, no_answer" in err
    assert json.loads(run(capsys, "ledger", "show", "--reservation", rid)[1])["state"] == "planned"


# ---- init, show, URLs -------------------------------------------------------------------------


def test_init_creates_then_reports_up_to_date_then_migrates_old(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{setup['dir']}/new.sqlite"
    assert f"schema version {SCHEMA_VERSION} (created)" in run(capsys, "ledger", "init", "--ledger", url)[1]
    assert "(already up to date)" in run(capsys, "ledger", "init", "--ledger", url)[1]
    old = f"sqlite:///{setup['dir']}/old.sqlite"
    open_ledger(old, target_version=1, create=True).close()
    assert "(migrated from version 1)" in run(capsys, "ledger", "init", "--ledger", old)[1]
    with sqlite3.connect(f"{setup['dir']}/old.sqlite") as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]


def test_show_summarises_the_ledger_and_one_customer(setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    d, policy = setup["dir"], setup["policy"]
    run(capsys, "reserve", "--policy", policy, "--customer", f"{d}/ada.json", "--request", f"{d}/gold.json")
    _, out, _ = run(capsys, "ledger", "show")
    counts = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))
    assert counts == {"customers": "1", "events": "0", "planned": "1", "sent": "0", "displaced": "0",
                      "released": "0", "expired": "0"}  # fmt: skip
    _, out, _ = run(capsys, "ledger", "show", "--customer", "ada")
    assert "1 entries" in out and "planned   marketing email by gold" in out


@pytest.mark.parametrize("url", ["ledger.sqlite", "mysql://x", "sqlite://rel"])
def test_a_bad_ledger_url_is_bad_input(url: str, setup: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ledger", "show", "--ledger", url)
    assert code == 2 and "sqlite:///" in err


def test_ledger_without_an_action_shows_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "ledger")
    assert code == 2 and "init" in err and "import" in err
