"""nodesconf-inspect: reports, cross-checks and exit codes on the captured fixture stages
and on hand-made conflicts; the pure watch diff; one real `--watch` run."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aikv.inspect_diff import diff_confs
from aikv.nodesconf_inspect import main
from aikv.persist.nodesconf import NodesConf, parse_nodes_conf, save_nodes_conf
from tests.unit.test_nodesconf import CONF_FILES, FIXTURES, ID_7101, ID_7102, needs_fixtures

REPO = Path(__file__).resolve().parents[2]
STAGES = FIXTURES / "nodes-conf"
N7101 = "d6db14b3 (127.0.0.1:7101)"
N7102 = "0e222c93 (127.0.0.1:7102)"
N7103 = "d73c88c9 (127.0.0.1:7103)"
N7104 = "c6851030 (127.0.0.1:7104)"

pytestmark = needs_fixtures


def stage_files(stage: str, *ports: int) -> list[str]:
    if ports:
        return [str(STAGES / stage / f"nodes-{port}.conf") for port in ports]
    return sorted(str(p) for p in (STAGES / stage).glob("nodes-*.conf"))


def fixture_text(stage: str, port: int) -> str:
    return (STAGES / stage / f"nodes-{port}.conf").read_text()


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def problems(result: Result) -> list[str]:
    return [line[len("problem: "):] for line in result.stdout.splitlines()
            if line.startswith("problem: ")]


def copy_stage(tmp_path: Path, stage: str, edits: dict[int, list[tuple[str, str]]] | None = None,
               ports: tuple[int, ...] = (7101, 7102, 7103)) -> list[str]:
    """Write the stage's files into tmp_path, applying (old, new) text edits per port."""
    paths = []
    for port in ports:
        text = fixture_text(stage, port)
        for old, new in (edits or {}).get(port, []):
            assert old in text, (port, old)
            text = text.replace(old, new)
        path = tmp_path / f"nodes-{port}.conf"
        path.write_text(text)
        paths.append(str(path))
    return paths


# --------------------------------------------------------------------------------------
# The captured stages


@pytest.mark.parametrize("stage,ports", [
    ("after-create", ()),
    ("mid-migration", ()),
    ("mid-migration", (7101, 7102)),
    ("with-replica", ()),
    ("after-manual-failover", ()),
    ("after-reset-soft", ()),
])
def test_consistent_stages_exit_0(stage: str, ports: tuple[int, ...]) -> None:
    files = stage_files(stage, *ports)
    result = run(*files)
    assert result.exit_code == 0, result.output
    assert problems(result) == []
    scope = f"{len(files)} files cross-checked" if len(files) > 1 else "1 file checked"
    assert f"{scope}: no problems found" in result.stdout
    for path in files:
        assert f"== {path}: myself " in result.stdout


def test_mid_migration_shows_the_open_migration() -> None:
    result = run(*stage_files("mid-migration", 7101, 7102))
    assert result.exit_code == 0
    assert result.stdout.count("open migrations:") == 2
    assert f"slot 100: {N7101} -> {N7102} (migrating, recorded by {N7101})" in result.stdout
    assert f"slot 100: {N7101} -> {N7102} (importing, recorded by {N7102})" in result.stdout


def test_table_has_every_node_and_column() -> None:
    result = run(*stage_files("with-replica", 7104))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("== ") and "currentEpoch 6, lastVoteEpoch 0" in lines[0]
    assert lines[1].split() == ["ID", "ADDRESS", "ROLE", "MASTER", "FLAGS", "EPOCH", "LINK",
                                "#SLOTS", "SLOTS"]
    replica = next(line for line in lines if line.startswith("c6851030"))
    assert replica.split()[1:8] == ["127.0.0.1:7104@17104", "replica", "d6db14b3",
                                    "myself,slave", "6", "connected", "0"]
    master = next(line for line in lines if line.startswith("0e222c93"))
    assert master.split()[1:] == ["127.0.0.1:7102@17102,node-7102.aikv.test", "master", "-",
                                  "master", "2", "connected", "5461", "5462-10922"]


def test_after_fail_reports_the_failed_master() -> None:
    files = stage_files("after-fail")
    result = run(*files)
    assert result.exit_code == 1
    assert problems(result) == [f"node {N7103} is flagged fail by {files[0]}, {files[1]}"]


def test_fresh_nodes_do_not_know_each_other() -> None:
    files = stage_files("fresh")
    result = run(*files)
    assert result.exit_code == 1
    assert problems(result) == [
        f"node d6db14b3 (:0) is unknown to {files[1]}",
        f"node 0e222c93 (:0) is unknown to {files[0]}",
    ]


@pytest.mark.parametrize("path", CONF_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_single_file_checks(path: Path) -> None:
    result = run(str(path))
    # Alone, each file is sound except where it records a failed node.
    assert result.exit_code == (1 if path.parent.name == "after-fail" else 0), result.output


def test_mixed_stages_show_self_view_and_slot_disagreement() -> None:
    # 7101 after taking slot 5461 and epoch 8, next to 7102's older view of it.
    new_7101, old_7102 = stage_files("after-fail", 7101)[0], stage_files("after-create", 7102)[0]
    found = problems(run(new_7101, old_7102))
    assert f"slot 5461: owner disputed: {N7101} per {new_7101}; {N7102} per {old_7102}" in found
    assert (f"node {N7101} says configEpoch 8 ({new_7101}), but {old_7102} records 1"
            in found)
    assert f"node {N7101} says slots 0-5461 ({new_7101}), but {old_7102} records 0-5460" in found
    assert f"node {N7102} says slots 5461-10922 ({old_7102}), but {new_7101} records " \
           "5462-10922" in found


# --------------------------------------------------------------------------------------
# Hand-made conflicts


def test_two_owners_of_a_slot(tmp_path: Path) -> None:
    files = copy_stage(tmp_path, "after-create", {7102: [("0-5460", "0-5461"),
                                                         ("5461-10922", "5462-10922")]})
    result = run(*files)
    assert result.exit_code == 1
    assert (f"slot 5461: owner disputed: {N7102} per {files[0]}, {files[2]}; "
            f"{N7101} per {files[1]}") in problems(result)


def test_slot_claimed_twice_in_one_file(tmp_path: Path) -> None:
    files = copy_stage(tmp_path, "after-create", {7101: [("0-5460", "0-5460 5461-5470")]},
                       ports=(7101,))
    result = run(*files)
    assert result.exit_code == 1
    assert problems(result) == [f"{files[0]}:3: 5461-5470 already claimed on line 2; "
                                "Redis keeps the first claim"]


def test_single_file_oddities_name_their_lines(tmp_path: Path) -> None:
    ghost = "f" * 40
    text = fixture_text("after-create", 7101)
    text = text.replace("vars currentEpoch 3", "vars currentEpoch 2 shardId x")
    text = text.replace("5461-10922", f"5461-10922 [7->-{ID_7101}]")
    text += f"{ID_7102} 127.0.0.1:7102@17102 master - 0 0 2 connected\n"
    text += f"{'e' * 40} 127.0.0.1:7105@17105 slave {ghost} 0 0 3 connected\n"
    path = tmp_path / "odd.conf"
    path.write_text(text)
    result = run(str(path))
    assert result.exit_code == 1
    assert problems(result) == [
        f"{path}:5: node {N7102} already has a line (line 2); Redis merges the two",
        f"{path}:2: migration marks on the line of {N7102}, which is not myself "
        "(Redis would apply them to myself)",
        f"{path}:6: master {ghost} of eeeeeeee (127.0.0.1:7105) has no line in this file",
        f"{path}:4: currentEpoch 2 is below the largest configEpoch 3",
        f"{path}:4: unknown variable 'shardId' skipped",
    ]


def test_same_node_given_twice(tmp_path: Path) -> None:
    first, second = stage_files("after-create", 7101)[0], stage_files("mid-migration", 7101)[0]
    result = run(first, second)
    assert result.exit_code == 1
    assert f"node {N7101} is myself in several files: {first}, {second}" in problems(result)


def test_truncated_file_is_malformed(tmp_path: Path) -> None:
    text = fixture_text("after-create", 7101)
    bad = tmp_path / "nodes-7101.conf"
    bad.write_text(text[: text.index("myself") + 2])
    result = run(str(bad), *stage_files("after-create", 7102))
    assert result.exit_code == 2
    assert result.stderr == f"{bad}:3: node line has 3 fields, at least 8 needed\n"
    assert "==" not in result.stdout  # no report on a half-read cluster


def test_file_cut_at_a_line_end_loses_the_vars_line(tmp_path: Path) -> None:
    text = fixture_text("after-create", 7101)
    cut = tmp_path / "nodes-7101.conf"
    cut.write_text(text[: text.index("vars")])
    result = run(str(cut))
    assert result.exit_code == 1
    assert problems(result) == [
        f"{cut}: no 'vars currentEpoch ... lastVoteEpoch ...' line (Redis writes it last: "
        "the file may be truncated)"]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    result = run(str(missing))
    assert result.exit_code == 2
    assert result.stderr == f"{missing}: No such file or directory\n"


def test_one_sided_migration_source_side(tmp_path: Path) -> None:
    source, target = stage_files("mid-migration", 7101)[0], stage_files("after-create", 7102)[0]
    found = problems(run(source, target))
    assert (f"slot 100: {N7101} is migrating it to {N7102}, but {target} is not importing it"
            in found)


def test_one_sided_migration_target_side(tmp_path: Path) -> None:
    source, target = stage_files("after-create", 7101)[0], stage_files("mid-migration", 7102)[0]
    found = problems(run(source, target))
    assert (f"slot 100: {N7102} is importing it from {N7101}, but {source} is not migrating it"
            in found)


def test_migration_to_the_wrong_node(tmp_path: Path) -> None:
    files = copy_stage(tmp_path, "mid-migration", {
        7102: [(f" [100-<-{ID_7101}]", "")],
        7103: [("myself,master - 0 1795670352000 3 connected 10923-16383",
                                    f"myself,master - 0 1795670352000 3 connected 10923-16383 "
                                    f"[100-<-{ID_7101}]")]})
    # 7101 migrates slot 100 to 7102, but 7103 is the one importing it.
    found = problems(run(*files))
    assert f"slot 100: {N7101} is migrating it to {N7102}, but {files[1]} is not importing it" \
        in found
    assert f"slot 100: {N7103} is importing it from {N7101}, but {files[0]} is migrating it " \
           f"to {N7102}" in found


def test_uncovered_slots(tmp_path: Path) -> None:
    drop = [(" 10923-16383", "")]
    files = copy_stage(tmp_path, "after-create", {7101: drop, 7102: drop, 7103: drop})
    result = run(*files)
    assert result.exit_code == 1
    assert problems(result) == ["slots 10923-16383: not covered by any node"]


def test_duplicate_config_epoch(tmp_path: Path) -> None:
    epoch_1 = [("master - 0 1795670352370 2 connected", "master - 0 1795670352370 1 connected"),
               ("master - 0 1795670353000 2 connected", "master - 0 1795670353000 1 connected"),
               ("master - 0 1795670353417 2 connected", "master - 0 1795670353417 1 connected")]

    def applicable(port: int) -> list[tuple[str, str]]:
        text = fixture_text("after-create", port)
        return [edit for edit in epoch_1 if edit[0] in text]

    files = copy_stage(tmp_path, "after-create", {p: applicable(p) for p in (7101, 7102, 7103)})
    result = run(*files)
    assert result.exit_code == 1
    assert problems(result) == [f"configEpoch 1 shared by masters {N7102}, {N7101} "
                                f"(per {files[0]}, {files[1]}, {files[2]})"]


def test_json_output() -> None:
    files = stage_files("mid-migration", 7101, 7102)
    result = run("--json", *files)
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and doc["problems"] == []
    first = doc["files"][0]
    assert first["path"] == files[0] and first["myself"] == ID_7101
    assert (first["current_epoch"], first["last_vote_epoch"]) == (3, 0)
    assert first["migrations"] == [{"slot": 100, "state": "migrating", "node": ID_7101,
                                    "from": ID_7101, "to": ID_7102}]
    me = next(n for n in first["nodes"] if n["id"] == ID_7101)
    assert me["slots"] == [[0, 5460]] and me["slot_count"] == 5461
    assert me["flags"] == ["myself", "master"] and me["migrating"] == {"100": ID_7102}
    assert me["role"] == "master" and me["link"] == "connected" and me["line"] == 3

    failed = json.loads(run("--json", *stage_files("after-fail")).stdout)
    assert failed["ok"] is False
    assert [p["kind"] for p in failed["problems"]] == ["node-failing"]


def test_json_output_on_malformed_file(tmp_path: Path) -> None:
    bad = tmp_path / "nodes.conf"
    bad.write_text(fixture_text("after-create", 7101).replace("myself,master", "myself,boss"))
    result = run("--json", str(bad))
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"ok": False, "errors": [
        {"path": str(bad), "line": 3, "reason": "unknown flag 'boss'"}]}


def test_launcher_runs_from_checkout() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "nodesconf-inspect"),
                             *stage_files("after-fail")], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 1
    assert f"problem: node {N7103} is flagged fail by" in result.stdout


def test_watch_refuses_a_missing_directory(tmp_path: Path) -> None:
    result = run("--watch", str(tmp_path / "gone" / "nodes.conf"))
    assert result.exit_code == 2
    assert result.stderr == f"{tmp_path / 'gone'}: no such directory to watch\n"


# --------------------------------------------------------------------------------------
# Watch: the pure diff


def conf(stage: str, port: int = 7101) -> NodesConf:
    return parse_nodes_conf(fixture_text(stage, port))


def test_diff_create_to_fail() -> None:
    assert diff_confs(conf("after-create"), conf("after-fail")) == [
        f"node {N7103}: flagged fail",
        f"node {N7103}: configEpoch 3 -> 5",
        f"node {N7103}: link disconnected",
        f"node {N7101}: configEpoch 1 -> 8",
        f"slot 5461: {N7102} -> {N7101}",
        "currentEpoch 3 -> 8",
    ]


def test_diff_migration_opened_and_closed() -> None:
    opened = diff_confs(conf("after-create", 7102), conf("mid-migration", 7102))
    assert opened == [f"migration opened: slot 100 importing into {N7102} from {N7101}"]
    closed = diff_confs(conf("mid-migration"), conf("with-replica"))
    assert f"migration closed: slot 100 migrating from {N7101} to {N7102}" in closed
    assert f"node added: {N7104} as replica of {N7101} (slave)" in closed


def test_diff_failover_and_removal() -> None:
    failover = diff_confs(conf("with-replica"), conf("after-manual-failover"))
    assert f"node {N7101}: now replica of {N7104} (was master)" in failover
    assert f"node {N7104}: now master (was replica of {N7101})" in failover
    assert f"slots 0-5461: {N7101} -> {N7104}" in failover
    removed = diff_confs(conf("after-manual-failover"), conf("after-fail"))
    assert f"node removed: {N7104}" in removed


def test_diff_fail_cleared_and_fresh_node_joining() -> None:
    cleared = diff_confs(conf("after-fail"), conf("after-manual-failover"))
    assert f"node {N7103}: fail cleared" in cleared
    assert f"node {N7103}: link connected" in cleared
    joined = diff_confs(conf("fresh", 7102), conf("after-create", 7102))
    assert f"node {N7102}: address :0@0 -> 127.0.0.1:7102@17102,node-7102.aikv.test" in joined
    assert f"slots 10923-16383: unassigned -> {N7103}" in joined


def test_diff_ignores_ping_pong_times() -> None:
    # 7103's file between after-create and mid-migration is byte-identical; and pong times
    # alone (as in CLUSTER NODES replies taken seconds apart) are no configuration change.
    assert diff_confs(conf("after-create", 7103), conf("mid-migration", 7103)) == []
    later = fixture_text("after-create", 7101).replace("1795670352671", "1795670999999")
    assert diff_confs(conf("after-create"), parse_nodes_conf(later)) == []


# --------------------------------------------------------------------------------------
# Watch: a real run


class LineReader:
    """Collects a subprocess's stdout lines on a thread, so the test can wait with a
    deadline instead of blocking on a pipe."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=lambda: [self.lines.put(x) for x in stream],
                                        daemon=True)
        self._thread.start()

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not seen; output so far: {self.seen}")


def test_watch_prints_changes(tmp_path: Path) -> None:
    path = tmp_path / "nodes.conf"
    path.write_text(fixture_text("after-create", 7101))
    process = subprocess.Popen(
        [sys.executable, str(REPO / "tools" / "nodesconf-inspect"), "--watch", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        reader = LineReader(process)
        reader.wait_for(f"{path}: 3 nodes, myself d6db14b3, currentEpoch 3")
        reader.wait_for("watching 1 file")
        # AiKv (and Redis 7.2) style: a new file renamed over the old one.
        save_nodes_conf(path, fixture_text("mid-migration", 7101), fsync=False)
        reader.wait_for(f"{path}: migration opened: slot 100 migrating from {N7101} to {N7102}")
        # Redis 7.0 style: rewritten in place, without truncating first.
        with open(path, "r+") as handle:
            new = fixture_text("after-fail", 7101)
            handle.write(new)
            handle.truncate(len(new))
        line = reader.wait_for(f"node {N7103}: flagged fail")
        assert line.startswith("[") and f"] {path}: node" in line
        reader.wait_for("currentEpoch 3 -> 8")
        path.unlink()
        reader.wait_for(f"{path}: file removed")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
