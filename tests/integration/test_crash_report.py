"""Crash reports and the software watchdog, against redis-server's.

DEBUG SEGFAULT / PANIC / ASSERT end the process by the signal Redis ends by (or exit 1
under use-exit-on-panic), after a bug report with Redis's sections; a fatal signal from
outside leaves every thread's Python stack in the log; watchdog-period logs the stalled
loop's stack."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
import redis

from tests.harness import ServerProcess, wait_until

DEBUG = ["--enable-debug-command", "yes"]
REDIS_QUIET = ["--crash-memcheck-enabled", "no"]  # (Redis's memory test takes a while)
SECTIONS = ["BUG REPORT START", "------ STACK TRACE ------", "------ INFO OUTPUT ------",
            "------ CLIENT LIST OUTPUT ------", "------ CURRENT CLIENT INFO ------",
            "BUG REPORT END"]


def _start(spawn: Callable[..., ServerProcess], kind: str, *args: str) -> ServerProcess:
    return spawn(kind, args=[*DEBUG, *(REDIS_QUIET if kind == "redis" else []), *args])


def _crash(node: ServerProcess, *command: str) -> int:
    """Send `command`, which must end the process; its exit status."""
    with pytest.raises(redis.ConnectionError):
        node.client().execute_command(*command)
    assert node.proc is not None
    return node.proc.wait(timeout=30)


def _full_log(node: ServerProcess) -> str:
    return node.log_path.read_text(errors="replace")


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_debug_segfault_writes_the_bug_report_and_dies_by_sigsegv(
        spawn: Callable[..., ServerProcess], kind: str) -> None:
    node = _start(spawn, kind)
    node.client().set("k", "v")
    assert _crash(node, "DEBUG", "SEGFAULT") == -signal.SIGSEGV
    text = _full_log(node)
    positions = [text.find(section) for section in SECTIONS]
    assert -1 not in positions and positions == sorted(positions), positions
    assert "crashed by signal: 11" in text
    report = text[text.find("INFO OUTPUT"):]
    assert "redis_version:7.0.15" in report and "db0:keys=1" in report
    assert "cmd=debug" in report  # the client list shows the crashing client
    assert "argv[0]: '\"DEBUG\"'" in report or "argv[0]: '\"debug\"'" in report


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_debug_panic_and_assert(spawn: Callable[..., ServerProcess], kind: str) -> None:
    node = _start(spawn, kind)
    assert _crash(node, "DEBUG", "PANIC") == -signal.SIGABRT
    text = _full_log(node)
    assert "Guru Meditation: DEBUG PANIC called at Unix time" in text
    assert "------ STACK TRACE ------" in text and "BUG REPORT END" in text

    node = _start(spawn, kind, "--use-exit-on-panic", "yes")
    assert _crash(node, "DEBUG", "ASSERT") == 1
    text = _full_log(node)
    assert "=== ASSERTION FAILED ===" in text and "is not true" in text
    assert "BUG REPORT END" in text


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_crash_log_disabled_dies_without_a_report(
        spawn: Callable[..., ServerProcess], kind: str) -> None:
    node = _start(spawn, kind, "--crash-log-enabled", "no")
    assert _crash(node, "DEBUG", "SEGFAULT") == -signal.SIGSEGV
    text = _full_log(node)
    assert "BUG REPORT" not in text and "STACK TRACE" not in text


def test_a_fatal_signal_leaves_the_python_stacks(spawn: Callable[..., ServerProcess]) -> None:
    node = _start(spawn, "aikv")
    assert node.proc is not None
    node.proc.send_signal(signal.SIGABRT)
    assert node.proc.wait(timeout=30) == -signal.SIGABRT
    text = _full_log(node)
    assert "Fatal Python error: Aborted" in text
    assert "most recent call first" in text and "aikv/cli.py" in text


@pytest.mark.parametrize("kind", ["aikv", "redis"])
def test_watchdog_logs_the_stalled_stack_once(
        spawn: Callable[..., ServerProcess], kind: str) -> None:
    node = _start(spawn, kind)
    r = node.client()
    r.config_set("watchdog-period", 200)
    r.execute_command("DEBUG", "SLEEP", "1")
    wait_until(lambda: "WATCHDOG TIMER EXPIRED" in _full_log(node), 10, 0.05,
               "the watchdog's report")
    text = _full_log(node)
    assert text.count("WATCHDOG TIMER EXPIRED") == 1  # once per stall
    if kind == "aikv":
        # The loop thread's stack, down to the command that holds it.
        assert "in _sleep" in text and "aikv/commands/debug.py" in text
    r.config_set("watchdog-period", 0)
    r.execute_command("DEBUG", "SLEEP", "0.5")
    assert r.ping()
    assert _full_log(node).count("WATCHDOG TIMER EXPIRED") == 1
