"""The served policy set, in process: snapshots, checked reloads, refusals (no server needed)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from policylang.service.reload import PolicyFolderError, PolicySet, version_of

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def folder(tmp_path: Path) -> Path:
    for name in ("northwind.pol", "northwind.polt"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path


def touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()  # a new mtime even when the clock's tick is coarse
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def test_a_request_in_flight_keeps_the_version_it_started_with(tmp_path: Path) -> None:
    policies = PolicySet(folder(tmp_path))
    in_flight = policies.current["northwind"]  # what a handler took at its start
    text = (tmp_path / "northwind.pol").read_text()
    touch(tmp_path / "northwind.pol", text + "\n# v2\n")
    assert policies.refresh() == []
    assert policies.current["northwind"].version == version_of(text + "\n# v2\n")
    assert in_flight.version == version_of(text) and in_flight.policy is not policies.current["northwind"].policy


def test_a_failing_version_is_refused_and_the_old_one_kept(tmp_path: Path) -> None:
    policies = PolicySet(folder(tmp_path))
    serving = policies.current["northwind"]
    text = (tmp_path / "northwind.pol").read_text()
    touch(tmp_path / "northwind.pol", text.replace("at most 1 marketing phone per 7 days",
                                                    "at most 2 marketing phone per 7 days"))
    problems = policies.refresh()
    assert problems and "northwind.polt" in problems[0]
    assert policies.current["northwind"] is serving
    assert "northwind" in policies.refused and policies.refused["northwind"].errors
    touch(tmp_path / "northwind.pol", text + "\ncap \"x\": at most\n")
    assert policies.refresh() and policies.current["northwind"] is serving
    touch(tmp_path / "northwind.pol", text)  # the served text again: nothing to do, refusal stays shown
    policies.refresh()
    assert policies.current["northwind"] is serving


def test_a_scenario_of_another_policy_does_not_block_a_reload(tmp_path: Path) -> None:
    folder(tmp_path)
    shutil.copy(EXAMPLES / "tcpa_telemarketing.pol", tmp_path)
    shutil.copy(EXAMPLES / "tcpa_telemarketing.polt", tmp_path)
    policies = PolicySet(tmp_path)
    tcpa = (tmp_path / "tcpa_telemarketing.pol").read_text()
    touch(tmp_path / "tcpa_telemarketing.pol", tcpa + "\n# reviewed\n")
    assert policies.refresh() == []
    assert policies.current["tcpa_telemarketing"].version == version_of(tcpa + "\n# reviewed\n")


def test_a_folder_that_cannot_be_served_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyFolderError, match="no such folder"):
        PolicySet(tmp_path / "nope")
    with pytest.raises(PolicyFolderError, match="no .pol files"):
        PolicySet(tmp_path)
    (tmp_path / "bad.pol").write_text("policy \"x\"\ncap \"y\": at most\n")
    with pytest.raises(PolicyFolderError):
        PolicySet(tmp_path)


def test_an_included_file_is_part_of_the_version_and_is_watched(tmp_path: Path) -> None:
    """11.17: the version names the whole text that decides, included files too, and a change
    to an included file (in a sub-folder the folder's glob does not see) is reloaded."""
    served = tmp_path / "served"
    (served / "parts").mkdir(parents=True)
    (served / "parts" / "hours.pol").write_text('quiet "hours": no phone outside 08:00-21:00\n')
    own = (
        'policy "shop"\ntimezone "UTC"\nchannels phone, email\nteams sales\npurposes sell\n'
        'include "parts/hours.pol"\ncap "daily": at most 2 sell per 1 day\n'
    )
    (served / "shop.pol").write_text(own)
    policies = PolicySet(served)
    first = policies.current["shop"]
    assert set(first.policy.included_files) == {str(served / "parts" / "hours.pol")}
    assert first.version != version_of(own)  # the included text counts
    assert policies.refresh() == [] and policies.current["shop"] is first  # nothing changed

    touch(served / "parts" / "hours.pol", 'quiet "hours": no phone outside 09:00-20:00\n')
    assert policies.refresh() == []
    second = policies.current["shop"]
    assert second is not first and second.version != first.version
    call = {"team": "sales", "channel": "phone", "purpose": "sell", "at": "2026-06-02T08:30:00Z"}
    assert first.policy.decide({"id": "c"}, call).allowed
    assert not second.policy.decide({"id": "c"}, call).allowed  # the new hours decide

    touch(served / "parts" / "hours.pol", 'quiet "hours": no phone outside\n')  # broken include
    problems = policies.refresh()
    assert problems and "hours.pol" in problems[0]
    assert policies.current["shop"] is second and "shop" in policies.refused
