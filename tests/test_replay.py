"""`policylang replay`: a ledger whose answer is known by hand."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from policylang.cli import main

OLD = """policy "replay"
timezone "UTC"

channels  email
teams     sales
purposes  marketing

customer
  timezone  zone

cap "weekly":  at most 3 marketing email per calendar week
"""
NEW = OLD.replace("at most 3", "at most 2")

# Three emails in each of two weeks of a Sydney customer (UTC+11 in November). The first
# is Monday 09:00 in Sydney but still Sunday in UTC: counted in UTC weeks, the first week
# would hold two emails and nothing would be flagged in it.
LEDGER = [
    ("2026-11-15T22:00:00Z", "sent"),  # Mon 16 Nov 09:00 Sydney
    ("2026-11-17T01:00:00Z", "sent"),
    ("2026-11-18T01:00:00Z", "sent"),  # the third of week 47: flagged
    ("2026-11-19T01:00:00Z", "released"),  # not sent: never replayed, never counted
    ("2026-11-22T20:00:00Z", "sent"),  # Mon 23 Nov 07:00 Sydney
    ("2026-11-25T01:00:00Z", "sent"),
    ("2026-11-29T12:30:00Z", "sent"),  # Sun 29 Nov 23:30 Sydney, the third of week 48: flagged
    ("2026-11-30T01:00:00Z", "sent"),  # Mon 30 Nov in Sydney: a new week
]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "old.pol").write_text(OLD)
    (tmp_path / "new.pol").write_text(NEW)
    (tmp_path / "customers.jsonl").write_text(json.dumps({"id": "syd", "timezone": "Australia/Sydney"}) + "\n")
    (tmp_path / "ledger.jsonl").write_text("".join(
        json.dumps({"customer": "syd", "at": at, "channel": "email", "purpose": "marketing", "team": "sales",
                    "status": status}) + "\n" for at, status in LEDGER))
    return {p.stem: p for p in tmp_path.iterdir()}


def replay(files: dict[str, Path], policy: str, out: Path, *extra: str) -> int:
    return main(["replay", str(files[policy]), "--ledger", str(files["ledger"]), "--customers", str(files["customers"]),
                 "-o", str(out), "--no-progress", *extra])


def rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tightened_cap_flags_the_third_contact_of_each_local_week(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert replay(files, "new", out) == 0
    got = rows(out)
    assert [r["row"] for r in got] == [1, 2, 3, 5, 6, 7, 8]  # the released contact is not replayed
    assert [r["row"] for r in got if not r["allowed"]] == [3, 7]
    assert {r["week"] for r in got if not r["allowed"]} == {"2026-W47", "2026-W48"}
    assert all(r["denied_by"] == ["weekly"] for r in got if not r["allowed"])


def test_against_lists_exactly_the_changed_contacts(files: dict[str, Path], tmp_path: Path) -> None:
    out, chart = tmp_path / "diff.jsonl", tmp_path / "chart.html"
    assert replay(files, "new", out, "--against", str(files["old"]), "--chart", str(chart)) == 0
    got = rows(out)
    assert [(r["row"], r["allowed"], r["denied_by"], r["old_allowed"], r["old_denied_by"]) for r in got] == [
        (3, False, ["weekly"], True, []), (7, False, ["weekly"], True, [])]
    page = chart.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and "weekly" in page and "http" not in page


def test_against_itself_reports_no_difference(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "same.jsonl"
    assert replay(files, "new", out, "--against", str(files["new"])) == 0
    assert out.read_text() == ""


def test_date_range(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "range.jsonl"
    assert replay(files, "new", out, "--from", "2026-11-22", "--to", "2026-11-29") == 0
    assert [r["row"] for r in rows(out)] == [5, 6, 7]  # the earlier contacts still count, unreplayed
    assert [r["row"] for r in rows(out) if not r["allowed"]] == [7]


def test_bad_ledger_row_writes_nothing(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files["ledger"].write_text(files["ledger"].read_text().replace('"team": "sales", "status": "released"',
                                                                   '"team": "salse", "status": "released"'))
    out = tmp_path / "bad.jsonl"
    assert replay(files, "new", out) == 2
    assert "ledger.jsonl: row 4: field `team`" in capsys.readouterr().err
    assert not out.exists()


def test_capacity_counts_every_customer_before_the_contact(tmp_path: Path) -> None:
    """Three customers' emails in one week against a capacity of two: the third in time
    (ties in file order) is the one flagged, whichever customer sent it."""
    (tmp_path / "cap.pol").write_text(OLD.replace('cap "weekly":  at most 3 marketing email per calendar week',
                                                  'capacity "desk":  at most 2 email by sales per calendar week'))
    sent = [("b", "2026-11-24T10:00:00Z"), ("a", "2026-11-24T09:00:00Z"), ("c", "2026-11-24T10:00:00Z"),
            ("a", "2026-11-30T09:00:00Z")]
    (tmp_path / "ledger.jsonl").write_text("".join(
        json.dumps({"customer": c, "at": at, "channel": "email", "purpose": "marketing", "team": "sales"}) + "\n"
        for c, at in sent))
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(tmp_path / "cap.pol"), "--ledger", str(tmp_path / "ledger.jsonl"), "-o", str(out),
                 "--no-progress", "--workers", "2"]) == 0
    assert [(r["row"], r["allowed"], r["denied_by"]) for r in rows(out)] == [
        (1, True, []), (2, True, []), (3, False, ["desk"]), (4, True, [])]


def summary_rows(text: str) -> list[list[str]]:
    """The summary table's body rows, cells stripped (rich draws the table with box lines)."""
    return [[cell.strip() for cell in line.strip("│┃ ").split("│")] for line in text.splitlines()
            if line.startswith("│")]


def test_summary_lists_every_week_of_a_short_replay(files: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert replay(files, "new", tmp_path / "out.jsonl") == 0
    got = summary_rows(capsys.readouterr().out)
    assert ["weekly", "all", "", "2"] in got
    assert [r for r in got if r[1] == "week"] == [["weekly", "week", "2026-W47", "1"], ["weekly", "week", "2026-W48", "1"]]


def test_summary_of_a_long_replay_shows_each_rules_busiest_week(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Twelve weeks, more than the summary lists: each rule's busiest week stands for them
    (week 3 has five emails, so three denied under "at most 2"; weeks 5 and 9 two each, the
    others one), the total counts every week, and the caption points to the chart."""
    (tmp_path / "new.pol").write_text(NEW)
    (tmp_path / "customers.jsonl").write_text(json.dumps({"id": "c", "timezone": "UTC"}) + "\n")
    monday = dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone.utc)  # Monday of 2026-W02
    sent = {3: 5, 5: 4, 9: 4}  # week index -> emails; 3 in every other week
    lines = []
    for week in range(12):
        for day in range(sent.get(week, 3)):
            at = (monday + dt.timedelta(weeks=week, hours=day)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lines.append(json.dumps({"customer": "c", "at": at, "channel": "email", "purpose": "marketing",
                                     "team": "sales", "status": "sent"}) + "\n")
    (tmp_path / "ledger.jsonl").write_text("".join(lines))
    files = {p.stem: p for p in tmp_path.iterdir()}
    assert replay(files, "new", tmp_path / "out.jsonl", "--chart", str(tmp_path / "c.html")) == 0
    text = capsys.readouterr().out
    got = summary_rows(text)
    assert ["weekly", "all", "", "16"] in got  # one denied in each of 9 weeks, 3 + 2 + 2 in the other three
    assert [r for r in got if "week" in r[1]] == [["weekly", "busiest week", "2026-W05", "3"]]
    assert "12 weeks" in text and "c.html" in text
