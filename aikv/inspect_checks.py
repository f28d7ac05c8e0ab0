"""Consistency checks over one or more nodes.conf files (pure: parsed files in, problems out).

Each file is one node's view of the cluster. A single file is checked for things its own
loader would silently reinterpret (duplicate claims, dangling references, a missing vars
line); several files are compared with each other, as `redis-cli --cluster check` compares
live nodes, but from what is on disk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aikv.cluster import nodeflags
from aikv.cluster.slots import CLUSTER_SLOTS
from aikv.persist.nodesconf import NodeEntry, NodesConf, format_ranges, slot_ranges


@dataclass(frozen=True)
class FileView:
    """A parsed nodes.conf and the name to call it by in messages."""

    label: str
    conf: NodesConf


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str


def short_id(node_id: str) -> str:
    return node_id[:8]


class NodeNames:
    """Readable node names ("d6db14b3 (127.0.0.1:7101)") from whatever file knows the
    node's address; an id no file has a line for is shown bare."""

    def __init__(self, views: Iterable[FileView]) -> None:
        self._addr: dict[str, str] = {}
        from_own_line: set[str] = set()
        for view in views:
            for entry in view.conf.entries:
                # Prefer the node's own line (the first one, if several files are its
                # own): it is the authority on its address.
                node_id = entry.node_id
                if node_id not in self._addr or (entry.is_myself and node_id not in from_own_line):
                    self._addr[node_id] = f"{entry.ip}:{entry.port}"
                    if entry.is_myself:
                        from_own_line.add(node_id)

    def __call__(self, node_id: str | None) -> str:
        if node_id is None:
            return "nobody"
        addr = self._addr.get(node_id)
        return f"{short_id(node_id)} ({addr})" if addr else short_id(node_id)


def slot_owners(conf: NodesConf) -> list[str | None]:
    """Owner of every slot as Redis would load this file: the first line claiming a slot
    keeps it."""
    owners: list[str | None] = [None] * CLUSTER_SLOTS
    for entry in conf.entries:
        for start, end in entry.slots:
            for slot in range(start, end + 1):
                if owners[slot] is None:
                    owners[slot] = entry.node_id
    return owners


def value_runs(values: Sequence[object]) -> list[tuple[int, int, object]]:
    """Maximal runs of equal values as (start, end, value)."""
    runs: list[tuple[int, int, object]] = []
    for index, value in enumerate(values):
        if runs and runs[-1][2] == value and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index, value)
        else:
            runs.append((index, index, value))
    return runs


def slots_text(start: int, end: int) -> str:
    return f"slot {start}" if start == end else f"slots {start}-{end}"


def _files_text(labels: Iterable[str]) -> str:
    return ", ".join(labels)


# --------------------------------------------------------------------------------------
# Checks on one file


def check_file(view: FileView, names: NodeNames) -> list[Problem]:
    conf, label = view.conf, view.label
    problems: list[Problem] = []

    def add(kind: str, line: int | None, text: str) -> None:
        where = f"{label}:{line}" if line else label
        problems.append(Problem(kind, f"{where}: {text}"))

    first_line: dict[str, int] = {}
    for entry in conf.entries:
        if entry.node_id in first_line:
            add("duplicate-node", entry.line,
                f"node {names(entry.node_id)} already has a line (line "
                f"{first_line[entry.node_id]}); Redis merges the two")
        else:
            first_line[entry.node_id] = entry.line

    claimed_by: dict[int, NodeEntry] = {}
    for entry in conf.entries:
        taken: dict[int, list[int]] = defaultdict(list)
        for start, end in entry.slots:
            for slot in range(start, end + 1):
                holder = claimed_by.setdefault(slot, entry)
                if holder is not entry:
                    taken[holder.line].append(slot)
        for holder_line, slots in taken.items():
            add("duplicate-slot-claim", entry.line,
                f"{format_ranges(slot_ranges(slots))} already claimed on line {holder_line}; "
                "Redis keeps the first claim")

    for entry in conf.entries:
        if entry.master_id and entry.master_id not in first_line:
            add("unknown-master", entry.line,
                f"master {entry.master_id} of {names(entry.node_id)} has no line in this file")
        if (entry.migrating or entry.importing) and not entry.is_myself:
            add("misplaced-mark", entry.line,
                f"migration marks on the line of {names(entry.node_id)}, which is not myself "
                "(Redis would apply them to myself)")
        for slot, peer in sorted({**entry.importing, **entry.migrating}.items()):
            if peer not in first_line:
                add("unknown-migration-peer", entry.line,
                    f"slot {slot}: migration peer {peer} has no line in this file")

    if conf.vars_line is None:
        add("no-vars", None, "no 'vars currentEpoch ... lastVoteEpoch ...' line "
            "(Redis writes it last: the file may be truncated)")
    max_epoch = max((e.config_epoch for e in conf.entries), default=0)
    # Without a vars line currentEpoch is simply unknown; that is reported above.
    if conf.vars_line is not None and conf.current_epoch < max_epoch:
        add("epoch-behind", conf.vars_line,
            f"currentEpoch {conf.current_epoch} is below the largest configEpoch {max_epoch}")
    for line, note in conf.notes:
        add("loader-note", line, note)
    return problems


# --------------------------------------------------------------------------------------
# Checks across files


def _check_same_node(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    by_self: dict[str, list[str]] = defaultdict(list)
    for view in views:
        me = view.conf.myself
        if me is not None:
            by_self[me.node_id].append(view.label)
    return [
        Problem("same-node-twice",
                f"node {names(node_id)} is myself in several files: {_files_text(labels)}")
        for node_id, labels in by_self.items() if len(labels) > 1
    ]


def _check_slots(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    problems: list[Problem] = []
    per_file = [slot_owners(view.conf) for view in views]
    signature = list(zip(*per_file, strict=True))
    any_assigned = any(owner is not None for owners in per_file for owner in owners)
    for start, end, sig in value_runs(signature):
        owners = sig if isinstance(sig, tuple) else ()
        distinct = set(owners)
        if len(distinct) > 1:
            said: dict[str | None, list[str]] = defaultdict(list)
            for view, owner in zip(views, owners, strict=True):
                said[owner].append(view.label)
            claims = "; ".join(
                f"{names(owner)} per {_files_text(labels)}" for owner, labels in said.items()
            )
            problems.append(Problem("slot-owner-conflict",
                                    f"{slots_text(start, end)}: owner disputed: {claims}"))
        elif distinct == {None} and any_assigned:
            problems.append(Problem("uncovered-slots",
                                    f"{slots_text(start, end)}: not covered by any node"))
    return problems


def _check_epochs(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    # Two masters with one configEpoch cannot settle a slot conflict between them; Redis
    # resolves it by bumping one, so a lasting collision on disk means that has not run.
    seen: dict[tuple[int, tuple[str, ...]], list[str]] = defaultdict(list)
    for view in views:
        by_epoch: dict[int, list[str]] = defaultdict(list)
        for entry in view.conf.entries:
            if entry.is_master:
                by_epoch[entry.config_epoch].append(entry.node_id)
        for epoch, ids in by_epoch.items():
            if len(set(ids)) > 1:
                seen[(epoch, tuple(sorted(set(ids))))].append(view.label)
    return [
        Problem("config-epoch-collision",
                f"configEpoch {epoch} shared by masters "
                f"{', '.join(names(i) for i in ids)} (per {_files_text(labels)})")
        for (epoch, ids), labels in seen.items()
    ]


def _check_migrations(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    problems: list[Problem] = []
    own: dict[str, tuple[FileView, NodeEntry]] = {}
    for view in views:
        me = view.conf.myself
        if me is not None:
            own.setdefault(me.node_id, (view, me))
    for node_id, (view, me) in own.items():
        owners = slot_owners(view.conf)
        for slot, target in sorted(me.migrating.items()):
            if owners[slot] != node_id:
                problems.append(Problem("migrating-unowned",
                    f"slot {slot}: {names(node_id)} migrates it to {names(target)} but its "
                    f"own file ({view.label}) gives the slot to {names(owners[slot])}"))
            if target in own:
                peer_view, peer = own[target]
                if peer.importing.get(slot) != node_id:
                    problems.append(Problem("one-sided-migration",
                        f"slot {slot}: {names(node_id)} is migrating it to {names(target)}, "
                        f"but {peer_view.label} is {_importing_text(peer, slot, names)}"))
        for slot, source in sorted(me.importing.items()):
            if slot in me.migrating:
                continue  # Redis shows and acts on the migrating side only
            if owners[slot] == node_id:
                problems.append(Problem("importing-owned",
                    f"slot {slot}: {names(node_id)} imports it from {names(source)} but "
                    f"already owns it per its own file ({view.label})"))
            if source in own:
                peer_view, peer = own[source]
                if peer.migrating.get(slot) != node_id:
                    actual = peer.migrating.get(slot)
                    state = (f"migrating it to {names(actual)}" if actual
                             else "not migrating it")
                    problems.append(Problem("one-sided-migration",
                        f"slot {slot}: {names(node_id)} is importing it from {names(source)}, "
                        f"but {peer_view.label} is {state}"))
    return problems


def _importing_text(peer: NodeEntry, slot: int, names: NodeNames) -> str:
    source = peer.importing.get(slot)
    return f"importing it from {names(source)}" if source else "not importing it"


def _check_known(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    known = [{e.node_id for e in view.conf.entries} for view in views]
    everyone: dict[str, None] = {}
    for ids in known:
        everyone.update(dict.fromkeys(sorted(ids)))
    problems = []
    for node_id in everyone:
        missing = [v.label for v, ids in zip(views, known, strict=True) if node_id not in ids]
        if missing:
            problems.append(Problem("unknown-node",
                                    f"node {names(node_id)} is unknown to {_files_text(missing)}"))
    return problems


def _check_failures(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    flagged: dict[tuple[str, str], list[str]] = defaultdict(list)
    for view in views:
        for entry in view.conf.entries:
            for bit, word in ((nodeflags.FAIL, "fail"), (nodeflags.PFAIL, "fail?"),
                              (nodeflags.NOADDR, "noaddr")):
                if entry.flags & bit:
                    flagged[(entry.node_id, word)].append(view.label)
    return [
        Problem("node-failing", f"node {names(node_id)} is flagged {word} by {_files_text(labels)}")
        for (node_id, word), labels in flagged.items()
    ]


def _role(entry: NodeEntry) -> str:
    if entry.is_replica:
        return f"replica of {short_id(entry.master_id)}" if entry.master_id else "replica"
    return "master" if entry.is_master else "no role"


def _self_facts(entry: NodeEntry) -> dict[str, str]:
    """What a node's own line says about it that peers should agree with."""
    facts = {
        "role": _role(entry),
        "address": entry.address,
        "slots": format_ranges(entry.slots) or "no slots",
        "nofailover": "yes" if entry.flags & nodeflags.NOFAILOVER else "no",
    }
    # A replica line shows its master's epoch, which is checked on the master itself.
    if not entry.is_replica:
        facts["configEpoch"] = str(entry.config_epoch)
    return facts


def _check_self_views(views: Sequence[FileView], names: NodeNames) -> list[Problem]:
    problems = []
    for view in views:
        me = view.conf.myself
        # A node that has never been met ("fresh") has no address yet; peers cannot agree.
        if me is None or not me.ip:
            continue
        mine = _self_facts(me)
        differ: dict[tuple[str, str], list[str]] = defaultdict(list)
        for other in views:
            if other is view:
                continue
            theirs_entry = other.conf.find(me.node_id)
            if theirs_entry is None:
                continue  # reported by the unknown-node check
            theirs = _self_facts(theirs_entry)
            for key, value in mine.items():
                if theirs.get(key, value) != value:
                    differ[(key, theirs[key])].append(other.label)
        for (key, value), labels in differ.items():
            problems.append(Problem("self-view-mismatch",
                f"node {names(me.node_id)} says {key} {mine[key]} ({view.label}), "
                f"but {_files_text(labels)} record{'s' if len(labels) == 1 else ''} {value}"))
    return problems


def check_views(views: Sequence[FileView]) -> list[Problem]:
    """Every problem found in the given files, single-file findings first."""
    names = NodeNames(views)
    problems: list[Problem] = []
    for view in views:
        problems.extend(check_file(view, names))
    for check in (_check_same_node, _check_slots, _check_epochs, _check_migrations,
                  _check_known, _check_failures, _check_self_views):
        problems.extend(check(views, names))
    return problems
