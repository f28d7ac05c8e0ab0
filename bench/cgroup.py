"""A memory-limited cgroup for one server process.

cgroup v2 is tried first (memory.max). Many containers and VMs mount a hybrid hierarchy
where the memory controller is bound to cgroup v1 and the v2 tree offers none; then the
v1 memory controller (memory.limit_in_bytes) is used if it can be written. Every attempt
and its exact error is recorded so the report says why a limit could or could not be set.
The new group is created under this process's own group, so it stays inside whatever
limits the machine already puts on us.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path("/sys/fs/cgroup")


class MemoryCgroup:
    def __init__(self, path: Path, version: int, limit: int) -> None:
        self.path = path
        self.version = version
        self.limit = limit

    def preexec(self) -> Callable[[], None]:
        """For Popen(preexec_fn=...): the child joins the group before exec, so every byte
        it ever allocates (interpreter start-up included) is charged to the group."""
        procs = str(self.path / "cgroup.procs")

        def join() -> None:
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        return join

    def _read(self, name: str) -> str:
        try:
            return (self.path / name).read_text().strip()
        except OSError as exc:
            return f"unreadable: {exc}"

    def stats(self) -> dict[str, Any]:
        if self.version == 2:
            out: dict[str, Any] = {n: self._read(n) for n in
                                   ("memory.max", "memory.current", "memory.peak")}
            out["memory.events"] = self._read("memory.events").replace("\n", ", ")
            return out
        stat = dict(line.split() for line in self._read("memory.stat").splitlines()
                    if len(line.split()) == 2)
        return {
            "memory.limit_in_bytes": self._read("memory.limit_in_bytes"),
            "memory.usage_in_bytes": self._read("memory.usage_in_bytes"),
            "memory.max_usage_in_bytes": self._read("memory.max_usage_in_bytes"),
            "memory.failcnt": self._read("memory.failcnt"),
            "oom_control": self._read("memory.oom_control").replace("\n", ", "),
            "cache": stat.get("total_cache") or stat.get("cache"),
            "rss": stat.get("total_rss") or stat.get("rss"),
        }

    def remove(self, timeout: float = 10.0) -> None:
        """rmdir once the member processes are gone (the kernel refuses before that)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.1)


def _own_group(controller: str | None) -> str:
    """This process's group path in the v1 hierarchy of `controller` (or in v2 if None)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller is None and ctrls == "":
                return path
            if controller is not None and controller in ctrls.split(","):
                return path
    return "/"


def _write(path: Path, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _try_v2(limit: int, name: str, notes: list[str]) -> MemoryCgroup | None:
    if (ROOT / "cgroup.controllers").exists():
        mount = ROOT
    elif (ROOT / "unified" / "cgroup.controllers").exists():
        mount = ROOT / "unified"
    else:
        notes.append(f"cgroup v2: {ROOT}/cgroup.controllers does not exist ({ROOT} is not "
                     "a cgroup2 mount) and there is no hybrid cgroup2 mount at "
                     f"{ROOT}/unified")
        return None
    parent = mount / _own_group(None).lstrip("/")
    controllers = (mount / "cgroup.controllers").read_text().split()
    notes.append(f"cgroup v2 mounted at {mount}; controllers available there: "
                 f"{' '.join(controllers) or '(none)'}")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        if "memory" not in enabled:
            _write(parent / "cgroup.subtree_control", "+memory")
    except OSError as exc:
        why = ""
        if "memory" not in controllers:
            why = (" - the memory controller is not offered by this v2 hierarchy (it is "
                   "bound to a cgroup v1 hierarchy instead)")
        notes.append(f"cgroup v2: enabling memory with `echo +memory > "
                     f"{parent}/cgroup.subtree_control` failed: {exc!r}{why}")
        return None
    group = parent / name
    try:
        group.mkdir()
        _write(group / "memory.max", str(limit))
    except OSError as exc:
        notes.append(f"cgroup v2: creating {group} with memory.max failed: {exc!r}")
        MemoryCgroup(group, 2, limit).remove(1)
        return None
    notes.append(f"cgroup v2: created {group} with memory.max={limit}")
    return MemoryCgroup(group, 2, limit)


def _try_v1(limit: int, name: str, notes: list[str]) -> MemoryCgroup | None:
    mount = ROOT / "memory"
    if not (mount / "memory.limit_in_bytes").exists():
        notes.append(f"cgroup v1: no memory controller mounted at {mount}")
        return None
    group = mount / _own_group("memory").lstrip("/") / name
    try:
        group.mkdir()
        _write(group / "memory.limit_in_bytes", str(limit))
    except OSError as exc:
        notes.append(f"cgroup v1: creating {group} with memory.limit_in_bytes failed: "
                     f"{exc!r}")
        MemoryCgroup(group, 1, limit).remove(1)
        return None
    try:  # no swap on most test machines; if there is, it must not dodge the limit
        _write(group / "memory.memsw.limit_in_bytes", str(limit))
    except OSError as exc:
        notes.append(f"cgroup v1: memory.memsw.limit_in_bytes not set ({exc!r})")
    notes.append(f"cgroup v1 fallback: created {group} with memory.limit_in_bytes={limit}")
    return MemoryCgroup(group, 1, limit)


def make(limit: int) -> tuple[MemoryCgroup | None, list[str]]:
    """A memory-limited group, or None; the notes say what was tried and why it failed."""
    notes: list[str] = []
    name = f"aikv-bench-{os.getpid()}"
    group = _try_v2(limit, name, notes)
    if group is None:
        group = _try_v1(limit, name, notes)
    return group, notes
