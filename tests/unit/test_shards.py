"""The suite's own runner (tests/shards.py) and the port slices it hands out."""

from __future__ import annotations

from pathlib import Path

from tests import shards
from tests.harness import _port_slice


def test_every_file_lands_in_exactly_one_shard_longest_first() -> None:
    durations = {"a": 100.0, "b": 60.0, "c": 50.0, "d": 10.0}
    files = ["e", "d", "c", "b", "a"]  # "e" was never recorded: DEFAULT_SECONDS (5)
    # Longest first, each to the lighter shard (the first on a tie): a | b, c -> b's
    # (110) | d -> a's (110) | e -> the first of two at 110.
    assert shards.assign(files, durations, 2) == [["a", "d", "e"], ["b", "c"]]
    assert shards.assign(files, durations, 1) == [sorted(files)]
    assert shards.assign(["a"], durations, 3) == [["a"]]  # no empty shards


def test_port_slices_never_meet_each_others_bus_ports() -> None:
    for count in (2, 3, 4):
        slices = [_port_slice(f"{i}/{count}") for i in range(count)]
        for i, (low, high) in enumerate(slices):
            # Server ports below 20000, so every bus port (+10000) is 20000 or above.
            assert 10000 <= low < high <= 20000
            for other_low, other_high in slices[i + 1:]:
                assert high <= other_low or other_high <= low
    assert _port_slice(None) == (10000, 22700)


def test_recorded_durations_name_current_test_files() -> None:
    durations = shards.load_durations()
    assert durations and set(durations) <= set(shards.test_files())
    assert all(seconds >= 0 for seconds in durations.values())


def test_record_reads_a_junit_report(tmp_path: Path) -> None:
    report = tmp_path / "j.xml"
    report.write_text(
        '<testsuites><testsuite>'
        '<testcase classname="tests.unit.test_shards" name="x" time="1.5"/>'
        '<testcase classname="tests.unit.test_shards" name="y" time="2.0"/>'
        '<testcase classname="tests.integration.test_node.SomeClass" name="z" time="3"/>'
        '<testcase classname="not.a.file" name="w" time="9"/>'
        '</testsuite></testsuites>')
    assert shards.record(report) == {"tests/integration/test_node.py": 3.0,
                                     "tests/unit/test_shards.py": 3.5}


def test_combined_status() -> None:
    assert shards.combined_status([0, 0]) == 0
    assert shards.combined_status([0, 5]) == 0  # a shard a -k left empty
    assert shards.combined_status([5, 5]) == 5
    assert shards.combined_status([5, 1]) == 1
    assert shards.combined_status([2, 1]) == 2
