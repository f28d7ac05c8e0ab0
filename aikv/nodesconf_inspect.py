"""nodesconf-inspect: read, validate, compare and watch nodes.conf files.

    nodesconf-inspect FILE...          tables per file, then problems found
    nodesconf-inspect --json FILE...   the same as one JSON document
    nodesconf-inspect --watch FILE...  print configuration changes as they happen

Exit status: 0 healthy, 1 problems found (one line each), 2 a file is unreadable or
malformed (`file:line: reason`).
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import click

from aikv.cluster import nodeflags
from aikv.inspect_checks import FileView, NodeNames, Problem, check_views
from aikv.inspect_diff import diff_confs
from aikv.persist.nodesconf import NodeEntry, NodesConf, NodesConfError, parse_nodes_conf

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_FILE = 0, 1, 2


@dataclass(frozen=True)
class ReadError:
    path: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.reason}"


def read_view(path: str) -> FileView | ReadError:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return ReadError(path, None, exc.strerror or str(exc))
    try:
        conf = parse_nodes_conf(data.decode("utf-8", "surrogateescape"))
    except NodesConfError as exc:
        return ReadError(path, exc.line, exc.reason)
    return FileView(path, conf)


# --------------------------------------------------------------------------------------
# Presentation


def role_of(entry: NodeEntry) -> str:
    if entry.is_replica:
        return "replica"
    return "master" if entry.is_master else "-"


def slot_text(entry: NodeEntry) -> str:
    return " ".join(str(s) if s == e else f"{s}-{e}" for s, e in entry.slots) or "-"


def migrations_of(conf: NodesConf) -> list[dict[str, Any]]:
    """Open migrations recorded in the file, as seen by the node holding the mark."""
    rows: list[dict[str, Any]] = []
    for entry in conf.entries:
        for slot, target in entry.migrating.items():
            rows.append({"slot": slot, "state": "migrating", "node": entry.node_id,
                         "from": entry.node_id, "to": target})
        for slot, source in entry.importing.items():
            rows.append({"slot": slot, "state": "importing", "node": entry.node_id,
                         "from": source, "to": entry.node_id})
    rows.sort(key=lambda row: (row["slot"], row["state"]))
    return rows


def node_json(entry: NodeEntry) -> dict[str, Any]:
    return {
        "id": entry.node_id,
        "ip": entry.ip,
        "port": entry.port,
        "cport": entry.cport,
        "hostname": entry.hostname,
        "address": entry.address,
        "role": role_of(entry),
        "flags": nodeflags.flags_to_text(entry.flags).split(","),
        "master_id": entry.master_id,
        "ping_sent_ms": entry.ping_sent_ms,
        "pong_received_ms": entry.pong_received_ms,
        "config_epoch": entry.config_epoch,
        "link": "connected" if entry.link_connected or entry.is_myself else "disconnected",
        "slots": [list(r) for r in entry.slots],
        "slot_count": entry.slot_count,
        "migrating": {str(s): t for s, t in sorted(entry.migrating.items())},
        "importing": {str(s): t for s, t in sorted(entry.importing.items())},
        "line": entry.line,
    }


def view_json(view: FileView) -> dict[str, Any]:
    me = view.conf.myself
    return {
        "path": view.label,
        "myself": me.node_id if me else None,
        "current_epoch": view.conf.current_epoch,
        "last_vote_epoch": view.conf.last_vote_epoch,
        "nodes": [node_json(e) for e in view.conf.entries],
        "migrations": migrations_of(view.conf),
    }


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    return [
        "  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]


def render_view(view: FileView, names: NodeNames) -> list[str]:
    conf = view.conf
    me = conf.myself
    out = [f"== {view.label}: myself {names(me.node_id) if me else '?'}, "
           f"currentEpoch {conf.current_epoch}, lastVoteEpoch {conf.last_vote_epoch}"]
    rows = [
        [e.node_id, e.address, role_of(e), (e.master_id or "-")[:8],
         nodeflags.flags_to_text(e.flags), str(e.config_epoch),
         "connected" if e.link_connected or e.is_myself else "disconnected",
         str(e.slot_count), slot_text(e)]
        for e in conf.entries
    ]
    out += table(["ID", "ADDRESS", "ROLE", "MASTER", "FLAGS", "EPOCH", "LINK", "#SLOTS",
                  "SLOTS"], rows)
    migrations = migrations_of(conf)
    if migrations:
        out.append("open migrations:")
        for m in migrations:
            out.append(f"  slot {m['slot']}: {names(m['from'])} -> {names(m['to'])} "
                       f"({m['state']}, recorded by {names(m['node'])})")
    return out


# --------------------------------------------------------------------------------------
# Report mode


def report(paths: Sequence[str], as_json: bool, out: TextIO, err: TextIO) -> int:
    results = [read_view(p) for p in paths]
    errors = [r for r in results if isinstance(r, ReadError)]
    if errors:
        for error in errors:
            print(error, file=err)
        if as_json:
            json.dump({"ok": False, "errors": [
                {"path": e.path, "line": e.line, "reason": e.reason} for e in errors
            ]}, out, indent=2)
            out.write("\n")
        return EXIT_BAD_FILE
    views = [r for r in results if isinstance(r, FileView)]
    problems = check_views(views)
    if as_json:
        json.dump({
            "ok": not problems,
            "files": [view_json(v) for v in views],
            "problems": [{"kind": p.kind, "message": p.message} for p in problems],
        }, out, indent=2)
        out.write("\n")
    else:
        names = NodeNames(views)
        for view in views:
            print("\n".join(render_view(view, names)), file=out)
            print(file=out)
        print(_verdict(views, problems), file=out)
        for problem in problems:
            print(f"problem: {problem.message}", file=out)
    return EXIT_PROBLEMS if problems else EXIT_OK


def _verdict(views: Sequence[FileView], problems: Sequence[Problem]) -> str:
    scope = f"{len(views)} files cross-checked" if len(views) > 1 else "1 file checked"
    if not problems:
        return f"{scope}: no problems found"
    return f"{scope}: {len(problems)} problem{'s' if len(problems) > 1 else ''}"


# --------------------------------------------------------------------------------------
# Watch mode


class _Interrupted(Exception):
    pass


def _stop(signum: int, frame: object) -> None:
    raise _Interrupted


def _stamp() -> str:
    return time.strftime("%H:%M:%S")


def watch(paths: Sequence[str], out: TextIO) -> int:
    # Imported here so report mode does not pay for starting watchdog.
    from watchdog.events import FileSystemEvent, FileSystemEventHandler
    from watchdog.observers import Observer

    # A node replaces its file by rename (AiKv, Redis 7.2+) or rewrites it in place
    # (Redis 7.0); watching the directory sees both, and a file that does not exist yet.
    keys = {os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(p))),
                         os.path.basename(p)): p for p in paths}
    state: dict[str, NodesConf | None] = {}
    changed: queue.Queue[str] = queue.Queue()

    def emit(text: str) -> None:
        out.write(f"[{_stamp()}] {text}\n")
        out.flush()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            for raw in (event.src_path, getattr(event, "dest_path", "")):
                path = os.fsdecode(raw) if raw else ""
                if path in keys:
                    changed.put(path)

    def load(key: str) -> None:
        label = keys[key]
        result = read_view(label)
        old = state.get(key)
        if isinstance(result, ReadError):
            if result.line is None and not os.path.exists(key):
                if old is not None:
                    emit(f"{label}: file removed")
                state[key] = None
            else:
                emit(f"{result} (keeping the last good version)")
            return
        new = result.conf
        state[key] = new
        if old is None:
            me = new.myself
            emit(f"{label}: {len(new.entries)} nodes, myself "
                 f"{me.node_id[:8] if me else '?'}, currentEpoch {new.current_epoch}")
            return
        for line in diff_confs(old, new):
            emit(f"{label}: {line}")

    missing = sorted({os.path.dirname(k) for k in keys if not os.path.isdir(os.path.dirname(k))})
    if missing:
        for directory in missing:
            print(f"{directory}: no such directory to watch", file=sys.stderr)
        return EXIT_BAD_FILE
    previous = signal.signal(signal.SIGTERM, _stop)
    observer = Observer()
    for directory in sorted({os.path.dirname(k) for k in keys}):
        observer.schedule(Handler(), directory, recursive=False)
    observer.start()
    try:
        for key in keys:
            load(key)
        emit(f"watching {len(keys)} file{'s' if len(keys) > 1 else ''}; Ctrl-C to stop")
        while True:
            try:
                key = changed.get(timeout=0.5)
            except queue.Empty:
                continue
            load(key)
    except (KeyboardInterrupt, _Interrupted):
        pass
    finally:
        observer.stop()
        observer.join()
        signal.signal(signal.SIGTERM, previous)
    return EXIT_OK


# --------------------------------------------------------------------------------------
# Command line


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
@click.option("--watch", "follow", is_flag=True,
              help="Follow the files and print what changes until interrupted.")
def main(files: tuple[str, ...], as_json: bool, follow: bool) -> None:
    """Show, validate and cross-check Redis Cluster nodes.conf files (one per node).

    Exit status: 0 healthy, 1 problems found, 2 unreadable or malformed file."""
    if follow:
        sys.exit(watch(files, sys.stdout))
    sys.exit(report(files, as_json, sys.stdout, sys.stderr))


if __name__ == "__main__":
    main()
