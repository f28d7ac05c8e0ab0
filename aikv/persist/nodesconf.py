"""nodes.conf: the cluster configuration file, in Redis 7.0's own format.

Three concerns, kept apart:

* a plain data model (`NodeEntry`, `NodesConf`) that mirrors the file line for line, so the
  cluster state module can convert to and from it and the inspect tool can show exactly
  what a file says;
* pure text functions: `parse_nodes_conf` (Redis 7.0.15 loader rules) and the formatters
  `format_node_line` (one CLUSTER NODES line, also used for the CLUSTER NODES reply) and
  `format_nodes_conf` (the whole file);
* file I/O: `save_nodes_conf` (temp file, fsync, rename, fsync of the directory),
  `load_nodes_conf`, and `lock_nodes_conf` which stops two servers from sharing one file.

The model records the file, not the loader's interpretation of it. Where Redis's loader
reinterprets a field, the caller (cluster state) must apply the same rule:
* ping-sent / pong-received only matter as zero or non-zero (non-zero becomes "now");
* a `slave` line naming a master gets configEpoch 0 (its epoch is its master's);
* the link-state field is ignored;
* a slot listed by two lines stays with the first line; a node id on two lines is one node
  (flags are OR-ed, slots added); ids referenced only as master or in migration marks
  become placeholder nodes with no flags;
* migration marks apply to *this* node whatever line they are on;
* currentEpoch is raised to the largest configEpoch if it is smaller.

The parser refuses every file Redis 7.0.15 refuses (or crashes on), at the same line. It
is stricter in one respect: where Redis reads a number with atoi()/strtoull() and so turns
garbage into 0 or into a prefix ("-5" as a slot becomes the range 0-5), the file is
refused instead. Redis never writes such text. Lines longer than Redis's 2 MiB read buffer
(which it would split in two) are read whole.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aikv.cluster import nodeflags
from aikv.cluster.slots import CLUSTER_SLOTS

NODE_ID_LEN = 40
# A file written before Redis 4.0 has no "@cport"; the bus port is then the client port
# plus this fixed offset.
CLUSTER_PORT_INCR = 10000
# Redis copies the ip into a 46-byte buffer (INET6_ADDRSTRLEN); a longer one would
# overflow it there, so it cannot come from a real node.
MAX_IP_LEN = 45
MAX_PORT = 65535

# C isspace() in the "C" locale: leading blanks a tokenizer skips.
_C_SPACE = frozenset(" \t\n\v\f\r")
# Characters that end an unquoted token in Redis's argument splitter (a narrower set).
_TOKEN_END = frozenset(" \t\n\r")
_HEX = frozenset("0123456789abcdefABCDEF")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
_MARK_RE = re.compile(r"\[([0-9]+)-([<>])-([^\]]*)\]")
_FLAG_WORDS = frozenset(name for _, name in nodeflags.FLAG_NAMES) | {"noflags"}


class NodesConfError(ValueError):
    """A nodes.conf that cannot be loaded; `line` is 1-based, `reason` says why."""

    def __init__(self, line: int, reason: str, path: str | None = None) -> None:
        self.line = line
        self.reason = reason
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.path is not None else f"line {self.line}"
        return f"{where}: {self.reason}"


class NodesConfLockError(RuntimeError):
    """Another process already uses this cluster configuration file."""


@dataclass
class NodeEntry:
    """One node line of nodes.conf / CLUSTER NODES, as written."""

    node_id: str
    ip: str
    port: int
    cport: int
    hostname: str | None = None
    flags: int = 0
    master_id: str | None = None
    ping_sent_ms: int = 0
    pong_received_ms: int = 0
    # For a replica this is what the line shows: its master's configEpoch.
    config_epoch: int = 0
    link_connected: bool = False
    slots: list[tuple[int, int]] = field(default_factory=list)
    migrating: dict[int, str] = field(default_factory=dict)
    importing: dict[int, str] = field(default_factory=dict)
    # Where the line came from, for error messages and the inspect tool; not content.
    line: int = field(default=0, compare=False)

    @property
    def is_myself(self) -> bool:
        return bool(self.flags & nodeflags.MYSELF)

    @property
    def is_master(self) -> bool:
        return bool(self.flags & nodeflags.MASTER)

    @property
    def is_replica(self) -> bool:
        return bool(self.flags & nodeflags.SLAVE)

    @property
    def address(self) -> str:
        text = f"{self.ip}:{self.port}@{self.cport}"
        return f"{text},{self.hostname}" if self.hostname else text

    @property
    def slot_count(self) -> int:
        return sum(end - start + 1 for start, end in self.slots)


@dataclass
class NodesConf:
    """A whole nodes.conf: node lines in file order plus the `vars` line."""

    entries: list[NodeEntry] = field(default_factory=list)
    current_epoch: int = 0
    last_vote_epoch: int = 0
    # Line of the (last) vars line; None if the parsed text had none (a file cut short
    # loses it first, since Redis writes it last). Not content: not compared.
    vars_line: int | None = field(default=None, compare=False)
    # Things the loader accepts but would log or silently drop, as (line, text).
    notes: list[tuple[int, str]] = field(default_factory=list, compare=False)

    @property
    def myself(self) -> NodeEntry | None:
        for entry in self.entries:
            if entry.is_myself:
                return entry
        return None

    def find(self, node_id: str) -> NodeEntry | None:
        for entry in self.entries:
            if entry.node_id == node_id:
                return entry
        return None


# --------------------------------------------------------------------------------------
# Slot range helpers


def slot_ranges(slots: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted, merged (start, end) ranges covering `slots`."""
    ranges: list[tuple[int, int]] = []
    for slot in sorted(set(slots)):
        if ranges and ranges[-1][1] == slot - 1:
            ranges[-1] = (ranges[-1][0], slot)
        else:
            ranges.append((slot, slot))
    return ranges


def format_ranges(ranges: Iterable[tuple[int, int]]) -> str:
    return " ".join(str(s) if s == e else f"{s}-{e}" for s, e in ranges)


def _normalized(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    # Cheap when already normal (the usual case); otherwise merge, as Redis prints a
    # node's slots from its bitmap and can never show overlapping or adjacent ranges.
    ordered = sorted(ranges)
    merged: list[tuple[int, int]] = []
    for start, end in ordered:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# --------------------------------------------------------------------------------------
# Formatting


def format_node_line(entry: NodeEntry) -> str:
    """The CLUSTER NODES line for `entry`, without the trailing newline.

    Migration marks are printed whenever the entry carries them; the caller attaches them
    to its own (myself) entry only. A slot both migrating and importing shows only the
    migrating mark, as in Redis.
    """
    # Redis prints "connected" for myself whatever the link table says.
    connected = entry.link_connected or entry.is_myself
    parts = [
        entry.node_id,
        entry.address,
        nodeflags.flags_to_text(entry.flags),
        entry.master_id or "-",
        str(entry.ping_sent_ms),
        str(entry.pong_received_ms),
        str(entry.config_epoch),
        "connected" if connected else "disconnected",
    ]
    if entry.slots:
        parts.append(_slots_text(tuple(entry.slots)))
    if entry.migrating or entry.importing:
        parts.append(_marks_text(tuple(entry.migrating.items()), tuple(entry.importing.items())))
    return " ".join(parts)


# nodes.conf is written again after every change of the cluster view (several times per
# slot during a reshard or a `--cluster fix`, on every node), and every save renders
# every node's line, while slots and open-slot marks change far less often than that: a
# node's slot ranges and our marks are rendered once per distinct value. Keys are tuples
# of ints and strings, so a hit costs a hash of the key.
@functools.lru_cache(maxsize=256)
def _slots_text(ranges: tuple[tuple[int, int], ...]) -> str:
    return format_ranges(_normalized(list(ranges)))


@functools.lru_cache(maxsize=16)
def _marks_text(migrating: tuple[tuple[int, str], ...],
                importing: tuple[tuple[int, str], ...]) -> str:
    to, source = dict(migrating), dict(importing)
    return " ".join(f"[{slot}->-{to[slot]}]" if slot in to else f"[{slot}-<-{source[slot]}]"
                    for slot in sorted(to.keys() | source.keys()))


def format_nodes_conf(conf: NodesConf) -> str:
    """The full file text: one line per node (handshake nodes left out, since their ids
    are temporary) in `conf.entries` order, then the vars line."""
    lines = [
        format_node_line(entry) + "\n"
        for entry in conf.entries
        if not entry.flags & nodeflags.HANDSHAKE
    ]
    lines.append(f"vars currentEpoch {conf.current_epoch} lastVoteEpoch {conf.last_vote_epoch}\n")
    return "".join(lines)


# --------------------------------------------------------------------------------------
# Parsing


def split_args(line: str) -> list[str]:
    """Split a line into words the way Redis splits config and nodes.conf lines: blanks
    separate words, "double quotes" allow C-style escapes (\\n, \\xHH, ...), 'single
    quotes' allow only \\'. A closing quote must be followed by a blank or the end.
    Raises ValueError on unbalanced quotes."""
    words: list[str] = []
    n = len(line)
    i = 0

    def at(k: int) -> str:
        # The C code reads a NUL terminator past the end; "" plays that role here.
        return line[k] if k < n else ""

    while True:
        while i < n and line[i] in _C_SPACE:
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        in_double = in_single = False
        while True:
            c = at(i)
            if in_double:
                if c == "\\" and at(i + 1) == "x" and at(i + 2) in _HEX and at(i + 3) in _HEX:
                    word.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 3
                elif c == "\\" and at(i + 1):
                    i += 1
                    word.append(_ESCAPES.get(line[i], line[i]))
                elif c == '"':
                    if at(i + 1) and at(i + 1) not in _C_SPACE:
                        raise ValueError("closing quote must be followed by a space")
                    i += 1
                    break
                elif not c:
                    raise ValueError("unterminated quotes")
                else:
                    word.append(c)
            elif in_single:
                if c == "\\" and at(i + 1) == "'":
                    i += 1
                    word.append("'")
                elif c == "'":
                    if at(i + 1) and at(i + 1) not in _C_SPACE:
                        raise ValueError("closing quote must be followed by a space")
                    i += 1
                    break
                elif not c:
                    raise ValueError("unterminated quotes")
                else:
                    word.append(c)
            elif not c or c in _TOKEN_END:
                i += 1
                break
            elif c == '"':
                in_double = True
            elif c == "'":
                in_single = True
            else:
                word.append(c)
            i += 1
        words.append("".join(word))


def is_valid_node_id(text: str) -> bool:
    """40 characters from [a-z0-9], the check Redis applies to ids it loads."""
    return len(text) == NODE_ID_LEN and all("a" <= c <= "z" or "0" <= c <= "9" for c in text)


def _ascii_ieq(word: str, lower_name: str) -> bool:
    # strcasecmp() folds ASCII only; str.lower() would also fold e.g. the Kelvin sign.
    return word.isascii() and word.lower() == lower_name


def _uint(text: str, lineno: int, what: str) -> int:
    # Redis reads numbers with atoi()/strtoull(), which turn garbage into 0 (or a prefix)
    # without complaint. Redis never writes such text, so it can only come from damage or
    # a bad hand edit; refusing it is safer than loading a silently different cluster.
    if not (text.isascii() and text.isdigit()):
        raise NodesConfError(lineno, f"{what} {text!r} is not a non-negative integer")
    return int(text)


def _slot(text: str, lineno: int) -> int:
    slot = _uint(text, lineno, "slot")
    if slot >= CLUSTER_SLOTS:
        raise NodesConfError(lineno, f"slot {slot} out of range 0-{CLUSTER_SLOTS - 1}")
    return slot


def _port(text: str, lineno: int, what: str) -> int:
    port = _uint(text, lineno, what)
    if port > MAX_PORT:
        raise NodesConfError(lineno, f"{what} {port} out of range")
    return port


def _parse_address(entry: NodeEntry, text: str, lineno: int) -> None:
    # Hostname first: it is everything after the first ',', and may itself hold ':'.
    address, comma, hostname = text.partition(",")
    entry.hostname = hostname if comma and hostname else None
    ip, colon, ports = address.rpartition(":")
    if not colon:
        raise NodesConfError(lineno, f"address {text!r} has no ':port'")
    if len(ip) > MAX_IP_LEN:
        raise NodesConfError(lineno, f"ip {ip[:20]!r}... longer than {MAX_IP_LEN} characters")
    entry.ip = ip
    port, at, cport = ports.partition("@")
    entry.port = _port(port, lineno, "port")
    entry.cport = _port(cport, lineno, "bus port") if at else entry.port + CLUSTER_PORT_INCR


def _parse_slot_word(entry: NodeEntry, word: str, lineno: int, owned: set[int],
                     notes: list[tuple[int, str]]) -> None:
    if word.startswith("["):
        mark = _MARK_RE.fullmatch(word)
        if mark is None:
            raise NodesConfError(
                lineno, f"malformed migration mark {word!r} (want [N->-id] or [N-<-id])"
            )
        slot = _slot(mark.group(1), lineno)
        peer = mark.group(3)
        if not is_valid_node_id(peer):
            raise NodesConfError(lineno, f"invalid node id {peer!r} in migration mark")
        # A repeated mark for one slot overwrites the earlier one, as in Redis.
        (entry.migrating if mark.group(2) == ">" else entry.importing)[slot] = peer
        return
    first, dash, last = word.partition("-")
    start = _slot(first, lineno)
    stop = _slot(last, lineno) if dash else start
    if start > stop:
        notes.append((lineno, f"empty slot range {word!r} ignored"))
    owned.update(range(start, stop + 1))


def _parse_node_line(argv: list[str], lineno: int, notes: list[tuple[int, str]]) -> NodeEntry:
    if not is_valid_node_id(argv[0]):
        raise NodesConfError(lineno, f"invalid node id {argv[0]!r}")
    entry = NodeEntry(node_id=argv[0], ip="", port=0, cport=0, line=lineno)
    _parse_address(entry, argv[1], lineno)

    words = argv[2].split(",")
    for word in words:
        # Redis panics on any other word, including the empty one in "master,".
        if not (word.isascii() and word.lower() in _FLAG_WORDS):
            raise NodesConfError(lineno, f"unknown flag {word!r}")
    if sum(1 for w in words if w.lower() == "myself") > 1:
        raise NodesConfError(lineno, "flag 'myself' given twice")
    entry.flags = nodeflags.flags_from_text(argv[2])

    # Any word starting with '-' means "no master", exactly as Redis tests it.
    if not argv[3].startswith("-"):
        if not is_valid_node_id(argv[3]):
            raise NodesConfError(lineno, f"invalid master id {argv[3]!r}")
        entry.master_id = argv[3]
    entry.ping_sent_ms = _uint(argv[4], lineno, "ping-sent time")
    entry.pong_received_ms = _uint(argv[5], lineno, "pong-received time")
    entry.config_epoch = _uint(argv[6], lineno, "configEpoch")
    # Redis ignores this field on load; kept only to reproduce the text.
    entry.link_connected = argv[7] == "connected"

    owned: set[int] = set()
    for word in argv[8:]:
        _parse_slot_word(entry, word, lineno, owned, notes)
    entry.slots = slot_ranges(owned)
    return entry


def parse_node_line(text: str, lineno: int = 1) -> NodeEntry:
    """Parse one node line (of nodes.conf or a CLUSTER NODES reply) on its own."""
    try:
        argv = split_args(text)
    except ValueError as exc:
        raise NodesConfError(lineno, str(exc)) from None
    if len(argv) < 8:
        raise NodesConfError(lineno, f"node line has {len(argv)} fields, at least 8 needed")
    return _parse_node_line(argv, lineno, [])


def _parse_vars(conf: NodesConf, argv: list[str], lineno: int) -> None:
    if len(argv) % 2 == 0:
        raise NodesConfError(lineno, f"vars line: variable {argv[-1]!r} has no value")
    for name, value in zip(argv[1::2], argv[2::2], strict=True):
        if _ascii_ieq(name, "currentepoch"):
            conf.current_epoch = _uint(value, lineno, "currentEpoch")
        elif _ascii_ieq(name, "lastvoteepoch"):
            conf.last_vote_epoch = _uint(value, lineno, "lastVoteEpoch")
        else:
            conf.notes.append((lineno, f"unknown variable {name!r} skipped"))
    conf.vars_line = lineno


def parse_nodes_conf(text: str) -> NodesConf:
    """Parse nodes.conf text; raise NodesConfError(line, reason) wherever Redis 7.0.15
    would refuse the file. Entries keep the file's line order."""
    if not text:
        # Redis treats a zero-length file as "no configuration yet", not as a config.
        raise NodesConfError(1, "empty file (a node would start as a brand-new node)")
    conf = NodesConf()
    myself_line = 0
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    for lineno, raw in enumerate(lines, 1):
        # The C loader sees a NUL as the end of the line.
        line = raw.split("\0", 1)[0]
        # Only truly empty lines are skipped (the 7.0 writer pads with "\n" when the new
        # content is shorter than the old file); a line of blanks is an error.
        if not line:
            continue
        try:
            argv = split_args(line)
        except ValueError as exc:
            raise NodesConfError(lineno, str(exc)) from None
        if argv and _ascii_ieq(argv[0], "vars"):
            _parse_vars(conf, argv, lineno)
            continue
        if len(argv) < 8:
            raise NodesConfError(lineno, f"node line has {len(argv)} fields, at least 8 needed")
        entry = _parse_node_line(argv, lineno, conf.notes)
        if entry.is_myself:
            if myself_line:
                raise NodesConfError(
                    lineno, f"second node flagged 'myself' (first on line {myself_line})"
                )
            myself_line = lineno
        conf.entries.append(entry)
    if not myself_line:
        raise NodesConfError(max(len(lines), 1), "no node is flagged 'myself'")
    return conf


# --------------------------------------------------------------------------------------
# Files


def load_nodes_conf(path: str | os.PathLike[str]) -> NodesConf | None:
    """Read and parse a nodes.conf; None when it is missing or empty, which Redis treats
    as a brand-new node. Parse errors carry `path`."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    if not data:
        return None
    try:
        return parse_nodes_conf(data.decode("utf-8", "surrogateescape"))
    except NodesConfError as exc:
        raise NodesConfError(exc.line, exc.reason, os.fspath(path)) from None


class NodesConfLock:
    """Exclusive use of one cluster config file, held until `release()` (or exit).

    Redis 7.0 rewrites nodes.conf in place, so a flock() on it stays on the live file. We
    save by rename, which puts a new inode under the name after every save: a lock taken
    on the old inode would protect nothing, and a second server opening the file after
    our first save would lock the new inode unopposed. So the authoritative lock is on a
    sibling `<file>.lock` that is never renamed or removed. On top of that, the live
    config file itself stays flock()ed (each save locks the temp file before renaming it
    into place) so that a real redis-server, which only knows Redis's own rule, is also
    refused if pointed at our file.
    """

    def __init__(self, path: str, lock_fd: int, conf_fd: int) -> None:
        self.path = path
        self.lock_path = path + ".lock"
        self._lock_fd: int | None = lock_fd
        self._conf_fd: int | None = conf_fd
        self._retired: list[int] = []

    @property
    def held(self) -> bool:
        return self._lock_fd is not None

    def _adopt_conf_fd(self, fd: int) -> None:
        old, self._conf_fd = self._conf_fd, fd
        if old is not None:
            # Closing a descriptor that holds a flock costs ~0.5 ms on this kernel, on the
            # path of a reply; the replaced inode is gone from the directory, so its
            # descriptor can be closed later (close_retired(), from a cron).
            self._retired.append(old)

    def close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for fd in retired:
            os.close(fd)

    def release(self) -> None:
        self.close_retired()
        for fd in (self._conf_fd, self._lock_fd):
            if fd is not None:
                os.close(fd)  # closing the descriptor drops its flock
        self._conf_fd = self._lock_fd = None

    def __enter__(self) -> NodesConfLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    return True


def _in_use(path: str, holder: str) -> NodesConfLockError:
    return NodesConfLockError(
        f"the cluster configuration file {path} is already used by another node{holder}; "
        "give every node its own cluster-config-file"
    )


def lock_nodes_conf(path: str | os.PathLike[str]) -> NodesConfLock:
    """Take the non-blocking exclusive lock for the config file at `path`, creating the
    file (empty) if missing, as Redis does. Raises NodesConfLockError if another process
    holds it; keep the returned lock for the life of the server and pass it to
    `save_nodes_conf`."""
    conf_path = os.fspath(path)
    lock_path = conf_path + ".lock"
    lock_fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    if not _try_flock(lock_fd):
        try:
            pid = os.pread(lock_fd, 32, 0).decode("ascii", "replace").strip()
        finally:
            os.close(lock_fd)
        raise _in_use(conf_path, f" (process {pid})" if pid else "")
    try:
        # Record the holder to make the error message above useful.
        os.ftruncate(lock_fd, 0)
        os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
        conf_fd = os.open(conf_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except BaseException:
        os.close(lock_fd)
        raise
    if not _try_flock(conf_fd):
        os.close(conf_fd)
        os.close(lock_fd)
        raise _in_use(conf_path, " (not an AiKv node: the file itself is locked)")
    return NodesConfLock(conf_path, lock_fd, conf_fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_in_place(fd: int, data: bytes) -> None:
    old_size = os.fstat(fd).st_size
    padded = data + b"\n" * (old_size - len(data)) if old_size > len(data) else data
    view = memoryview(padded)
    offset = 0
    while offset < len(view):
        written = os.pwrite(fd, view[offset:], offset)
        if written <= 0:
            raise OSError(errno.EIO, "short write to the cluster config file")
        offset += written
    if len(padded) != len(data):
        os.ftruncate(fd, len(data))


def save_nodes_conf(path: str | os.PathLike[str], text: str, fsync: bool,
                    lock: NodesConfLock | None = None) -> None:
    """Replace the file at `path` with `text` atomically: a reader (or a restart after a
    crash) sees the old file or the new one, never a mix.

    With `fsync` the data is on disk before the rename and the rename is on disk before
    returning; without it the replacement is still atomic against a process crash but a
    power loss may bring back the previous version. Pass the server's `lock` so the new
    file is locked too (see NodesConfLock)."""
    target = os.fspath(path)
    if lock is not None and os.path.abspath(lock.path) != os.path.abspath(target):
        raise ValueError(f"lock is for {lock.path}, not {target}")
    if not fsync and lock is not None and lock._conf_fd is not None:
        # A save that needs no fsync is written in place, as Redis 7.0 does: one pwrite
        # (padded with newlines, which the loader skips, when the new text is shorter)
        # then a truncate. A killed process cannot stop a write() half way, so this is
        # as crash-safe as a rename against process death, and costs microseconds where
        # create+rename+re-lock costs milliseconds — it runs several times per slot
        # during a reshard (SETSLOT). Saves that must survive power loss take the
        # temp-file path below.
        _save_in_place(lock._conf_fd, text.encode("utf-8", "surrogateescape"))
        return
    directory = os.path.dirname(os.path.abspath(target))
    tmp = f"{target}.tmp-{os.getpid()}-{time.time_ns() // 1_000_000}"
    data = memoryview(text.encode("utf-8", "surrogateescape"))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        if lock is not None:
            # Lock before the name exists, so the live file is never unlocked.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        while data:
            written = os.write(fd, data)
            if written <= 0:
                raise OSError(errno.EIO, f"short write to {tmp}")
            data = data[written:]
        if fsync:
            os.fsync(fd)
        os.replace(tmp, target)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if lock is not None:
        lock._adopt_conf_fd(fd)
    else:
        os.close(fd)
    if fsync:
        _fsync_dir(directory)
