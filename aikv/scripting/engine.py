"""The EVAL Lua state and its script cache; building a Lua state (libraries, redis.*) and
running a function in it as a script invocation, which FUNCTION's state (functions.py)
shares.

As in Redis, every script is compiled once into a function kept by its SHA1; globals are
read-only once the libraries are loaded (a script cannot create globals, and reading a
missing one is an error); KEYS and ARGV are set as globals before each run. The reply and
error texts follow redis-server 7.0.15 (eval.c, script_lua.c).

A script runs to completion inside the EVAL call, on the event loop. Once it has run
longer than `busy-reply-threshold` milliseconds (alias lua-time-limit, 5000 by default; 0:
never), its loops hand the node's connections a moment every few milliseconds
(CallContext.overtime, aikv/busy.py): other clients get BUSY, and SCRIPT KILL stops a
script that has not written, with an error that pcall cannot catch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aikv.resp import CountedError
from aikv.scripting import convert
from aikv.scripting.compiler import compile_chunk
from aikv.scripting.parser import parse
from aikv.scripting.runtime import CHUNK, EMPTY, Runtime
from aikv.scripting.stdlib import (
    _builtin,
    install_base,
    install_math,
    install_string,
    install_table,
)
from aikv.scripting.values import (
    LuaError,
    LuaSyntaxError,
    LuaTable,
    ScriptKilled,
    str2number,
    type_name,
)

if TYPE_CHECKING:
    from aikv.scripting.functions import FunctionEngine

log = logging.getLogger("aikv")

FLAG_NO_WRITES = 1
FLAG_ALLOW_OOM = 2
FLAG_ALLOW_STALE = 4
FLAG_NO_CLUSTER = 8
FLAG_COMPAT = 16
FLAG_ALLOW_CROSS_SLOT = 32
# Script flags by name, in Redis's scripts_flags_def order (FUNCTION LIST prints them so).
SCRIPT_FLAGS = {b"no-writes": FLAG_NO_WRITES, b"allow-oom": FLAG_ALLOW_OOM,
               b"allow-stale": FLAG_ALLOW_STALE, b"no-cluster": FLAG_NO_CLUSTER,
               b"allow-cross-slot-keys": FLAG_ALLOW_CROSS_SLOT}
REDIS_VERSION = b"7.0.15"
REDIS_VERSION_NUM = float(0x00070000 | (0 << 8) | 15)
LUA_RECURSION_LIMIT = 20000
LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.INFO, 3: logging.WARNING}


class ScriptError(Exception):
    """EVAL fails before running: args[0] is the error reply text (without '-')."""


class Script:
    __slots__ = ("sha", "body", "flags", "fn")

    def __init__(self, sha: str, body: bytes, flags: int, fn: Callable[..., list[Any]]) -> None:
        self.sha = sha
        self.body = body
        self.flags = flags
        self.fn = fn


def sha1hex(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def split_shebang(body: bytes) -> tuple[int, int]:
    """evalExtractShebangFlags: (flags, length of the shebang line to skip)."""
    if not body.startswith(b"#!"):
        return FLAG_COMPAT, 0
    end = body.find(b"\n")
    if end < 0:
        raise ScriptError("ERR Invalid script shebang")
    parts = body[:end].split()
    if not parts:
        raise ScriptError("ERR Invalid engine in script shebang")
    if parts[0] != b"#!lua":
        raise ScriptError("ERR Unexpected engine in script shebang: "
                          + parts[0].decode(errors="replace"))
    flags = 0
    for part in parts[1:]:
        if not part.startswith(b"flags="):
            raise ScriptError("ERR Unknown lua shebang option: " + part.decode(errors="replace"))
        for name in part[6:].split(b","):
            if not name:
                continue
            bit = SCRIPT_FLAGS.get(name)
            if bit is None:
                raise ScriptError("ERR Unexpected flag in script shebang: "
                                  + name.decode(errors="replace"))
            flags |= bit
    return flags, end


REPL_REPLICA = 2
REPL_ALL = 3


class CallContext:
    """What redis.call needs from the server while a script runs (see commands/scripting)."""

    resp3 = False
    # redis.set_repl: where the script's next commands go (bit 1: the AOF, which AiKv's
    # store always is; bit 2: replicas).
    repl_flags = REPL_ALL

    def execute(self, argv: list[bytes], raise_error: bool) -> Any:  # pragma: no cover
        raise NotImplementedError

    def log(self, level: int, text: str) -> None:
        log.log(LOG_LEVELS.get(level, logging.INFO), "%s", text)

    def may_run(self, argv: list[bytes]) -> bool | None:  # pragma: no cover
        """redis.acl_check_cmd: may the caller run `argv`? None: no such command."""
        raise NotImplementedError

    def overtime(self, rt: Runtime, line: int) -> None:
        """The script has run past its time limit (rt.deadline), in a loop at `line`.
        The server's context serves the node's other clients and returns unless the
        script was killed (aikv/busy.py); a context with no one to serve stops it."""
        raise ScriptKilled(line)


def error_metatable(rt: Runtime) -> LuaTable:
    """luaSetErrorMetatable: a metatable whose __index makes reading a missing field an
    error (on the globals, and on the tables a library sees while it loads)."""

    def nonexistent(*args: Any) -> list[Any]:
        name = args[1] if len(args) > 1 else None
        shown = name if type(name) is bytes else convert.fmt_number(name) \
            if type(name) is float else b"?"
        raise rt.error(b"Script attempted to access nonexistent global variable '%s'" % shown)

    meta = LuaTable()
    meta.hash[b"__index"] = _builtin(nonexistent)
    return meta


def new_runtime(chunk: str, eval_api: bool) -> Runtime:
    """A Lua state with Redis's libraries and `redis` API, its globals read-only.
    `eval_api`: the EVAL state (its extra redis.* functions and error-handler global);
    otherwise the FUNCTION state (functions.py wraps its globals further)."""
    rt = Runtime(chunk)
    G = rt.G

    def loadstring(src: bytes, name: str) -> Callable[..., list[Any]]:
        return compile_chunk(rt, parse(src, name))

    install_base(rt, loadstring)
    strlib = install_string(rt)
    rt.strlib = strlib
    G.hash[b"string"] = strlib
    smeta = LuaTable()
    smeta.hash[b"__index"] = strlib
    rt.string_meta = smeta
    G.hash[b"table"] = install_table(rt)
    G.hash[b"math"] = install_math(rt)
    from aikv.scripting.extlibs import install_bit, install_cjson
    from aikv.scripting.luastruct import install_struct
    from aikv.scripting.msgpack import install_cmsgpack

    G.hash[b"bit"] = install_bit(rt)
    G.hash[b"cjson"] = install_cjson(rt)
    G.hash[b"struct"] = install_struct(rt)
    G.hash[b"cmsgpack"] = install_cmsgpack(rt)
    G.hash[b"redis"] = redis_api(rt, eval_api)
    if eval_api:
        G.hash[b"__redis__err__handler"] = _builtin(lambda *a: [a[0] if a else None])
    G.meta = error_metatable(rt)
    protect(G)
    return rt


def redis_api(rt: Runtime, eval_api: bool) -> LuaTable:
    redis = LuaTable()
    h = redis.hash

    def generic(args: tuple[Any, ...], raise_error: bool) -> list[Any]:
        ctx = rt.ctx
        if ctx is None:
            raise rt.error("redis.call/pcall can only be called inside a script invocation")
        if not args:
            err = convert.error_table(
                b"Please specify at least one argument for this redis lib call")
            if raise_error:
                raise LuaError(err, rt.line)
            return [err]
        argv = []
        for a in args:
            b = convert.arg_bytes(a)
            if b is None:
                err = convert.error_table(
                    b"Lua redis lib command arguments must be strings or integers")
                if raise_error:
                    raise LuaError(err, rt.line)
                return [err]
            argv.append(b)
        value = ctx.execute(argv, raise_error)
        if raise_error and type(value) is LuaTable and type(value.hash.get(b"err")) is bytes:
            raise LuaError(value, rt.line)
        return [value]

    def call(*args: Any) -> list[Any]:
        return generic(args, True)

    def pcall(*args: Any) -> list[Any]:
        return generic(args, False)

    def sha1hex_(*args: Any) -> list[Any]:
        if len(args) != 1:
            raise LuaError(convert.error_table(b"wrong number of arguments"), rt.line)
        s = convert.arg_bytes(args[0])
        return [sha1hex(s or b"").encode()]

    def single(field: bytes) -> Callable[..., list[Any]]:
        def reply(*args: Any) -> list[Any]:
            if len(args) != 1 or type(args[0]) is not bytes:
                return [convert.error_table(b"wrong number or type of arguments")]
            t = LuaTable()
            t.hash[field] = args[0]
            return [t]
        return reply

    def error_reply(*args: Any) -> list[Any]:
        if len(args) != 1 or type(args[0]) is not bytes:
            return [convert.error_table(b"wrong number or type of arguments")]
        text = args[0]
        return [convert.error_table(text if text[:1] == b"-" else b"-" + text)]

    def log_(*args: Any) -> list[Any]:
        if len(args) < 2:
            raise LuaError(convert.error_table(b"redis.log() requires two arguments or more."),
                           rt.line)
        level = args[0]
        if type(level) is bytes:
            level = str2number(level)
        if type(level) is not float:
            raise LuaError(convert.error_table(b"First argument must be a number (log level)."),
                           rt.line)
        lvl = int(level)
        if not 0 <= lvl <= 3:
            raise LuaError(convert.error_table(b"Invalid debug level."), rt.line)
        parts = [convert.arg_bytes(a) for a in args[1:]]
        text = b" ".join(p for p in parts if p is not None).decode(errors="replace")
        if rt.ctx is not None:
            rt.ctx.log(lvl, text)
        else:  # a library being loaded (FUNCTION LOAD): no script is running
            log.log(LOG_LEVELS.get(lvl, logging.INFO), "%s", text)
        return EMPTY

    def setresp(*args: Any) -> list[Any]:
        ctx = rt.ctx
        if ctx is None:
            raise rt.error("redis.setresp can only be called inside a script invocation")
        if len(args) != 1:
            raise LuaError(convert.error_table(b"redis.setresp() requires one argument."),
                           rt.line)
        v = args[0]
        n = int(v) if type(v) is float and math.isfinite(v) else 0
        if n not in (2, 3):
            raise LuaError(convert.error_table(b"RESP version must be 2 or 3."), rt.line)
        ctx.resp3 = n == 3
        return EMPTY

    def acl_check_cmd(*args: Any) -> list[Any]:
        ctx = rt.ctx
        if ctx is None:
            raise LuaError(convert.error_table(
                b"redis.acl_check_cmd can only be called inside a script invocation"), rt.line)
        if not args:
            raise LuaError(convert.error_table(
                b"Please specify at least one argument for this redis lib call"), rt.line)
        argv = [convert.arg_bytes(a) for a in args]
        if any(b is None for b in argv):
            raise LuaError(convert.error_table(
                b"Lua redis lib command arguments must be strings or integers"), rt.line)
        allowed = ctx.may_run(argv)
        if allowed is None:
            raise LuaError(convert.error_table(
                b"Invalid command passed to redis.acl_check_cmd()"), rt.line)
        return [allowed]

    def set_repl(*args: Any) -> list[Any]:
        if rt.ctx is None:
            raise rt.error("redis.set_repl can only be called inside a script invocation")
        if len(args) != 1:
            raise LuaError(convert.error_table(b"redis.set_repl() requires two arguments."),
                           rt.line)
        v = args[0]
        flags = int(v) if type(v) is float and math.isfinite(v) else 0
        if flags & ~3:
            raise LuaError(convert.error_table(
                b"Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or "
                b"REPL_NONE."), rt.line)
        rt.ctx.repl_flags = flags
        return EMPTY

    def replicate_commands(*args: Any) -> list[Any]:
        return [True]

    def breakpoint_(*args: Any) -> list[Any]:
        return [False]

    def debug(*args: Any) -> list[Any]:
        return EMPTY

    api = [("call", call), ("pcall", pcall), ("sha1hex", sha1hex_),
           ("error_reply", error_reply), ("status_reply", single(b"ok")), ("log", log_),
           ("setresp", setresp), ("set_repl", set_repl), ("acl_check_cmd", acl_check_cmd)]
    if eval_api:
        # eval.c adds these to the EVAL state only; the FUNCTION state lacks them.
        api += [("replicate_commands", replicate_commands), ("breakpoint", breakpoint_),
                ("debug", debug)]
    for name, fn in api:
        h[name.encode()] = _builtin(fn)
    for name, value in [("LOG_DEBUG", 0), ("LOG_VERBOSE", 1), ("LOG_NOTICE", 2),
                        ("LOG_WARNING", 3), ("REPL_NONE", 0), ("REPL_AOF", 1),
                        ("REPL_SLAVE", 2), ("REPL_REPLICA", 2), ("REPL_ALL", 3)]:
        h[name.encode()] = float(value)
    h[b"REDIS_VERSION"] = REDIS_VERSION
    h[b"REDIS_VERSION_NUM"] = REDIS_VERSION_NUM
    return redis


class Engine:
    """A server's scripting: the EVAL state and script cache, and (made on first use by
    commands/functions.py) the FUNCTION libraries, which SCRIPT FLUSH leaves alone."""

    def __init__(self) -> None:
        self.scripts: dict[str, Script] = {}
        self.rt = new_runtime(CHUNK, eval_api=True)
        self.running: Script | None = None
        self.functions: FunctionEngine | None = None

    # ---------------------------------------------------------------- cache
    def load(self, body: bytes) -> Script:
        """luaCreateFunction: compile (once) and cache; ScriptError on failure."""
        sha = sha1hex(body)
        script = self.scripts.get(sha)
        if script is not None:
            return script
        flags, skip = split_shebang(body)
        # The shebang line is skipped but its newline kept, so line numbers stay right.
        try:
            fn = compile_chunk(self.rt, parse(body[skip:]))
        except LuaSyntaxError as exc:
            raise ScriptError("ERR Error compiling script (new function): %s" % exc) from None
        except RecursionError:
            raise ScriptError("ERR Error compiling script (new function): user_script: "
                              "chunk has too many syntax levels") from None
        script = Script(sha, body, flags, fn)
        self.scripts[sha] = script
        return script

    def flush(self) -> None:
        """SCRIPT FLUSH: a new Lua state, as scriptingReset does."""
        self.scripts.clear()
        self.rt = new_runtime(CHUNK, eval_api=True)

    # ---------------------------------------------------------------- run
    def run(self, script: Script, keys: list[bytes], args: list[bytes], ctx: CallContext,
            resp3: bool, time_limit_ms: int) -> bytes:
        G = self.rt.G.hash
        G[b"KEYS"] = lua_array(keys)
        G[b"ARGV"] = lua_array(args)
        self.running = script
        try:
            return call_lua(self.rt, script.fn, (), ctx, resp3, time_limit_ms,
                            script.sha.encode())
        finally:
            self.running = None


def call_lua(rt: Runtime, fn: Callable[..., list[Any]], fn_args: tuple[Any, ...],
             ctx: CallContext, resp3: bool, time_limit_ms: int, label: bytes) -> bytes:
    """Run `fn(*fn_args)` in `rt` as a script invocation (luaCallFunction): `ctx` bridges
    redis.call, the time limit applies, and the result or error becomes the reply.
    `label` names the script in error replies (an EVAL's SHA1, a function's name)."""
    rt.ctx = ctx
    rt.line = 0
    rt.stack.clear()
    rt.deadline = (time.monotonic() + time_limit_ms / 1000) if time_limit_ms > 0 else math.inf
    old_limit = raise_recursion_limit()
    try:
        # Within the raised limit until the reply is made: a result nested thousands
        # deep converts up to Lua's stack limit (see lua_to_resp), not Python's.
        return _run_and_convert(rt, fn, fn_args, ctx, resp3, label)
    finally:
        sys.setrecursionlimit(old_limit)


def _run_and_convert(rt: Runtime, fn: Callable[..., list[Any]], fn_args: tuple[Any, ...],
                     ctx: CallContext, resp3: bool, label: bytes) -> bytes:
    source = b"@" + rt.chunk.encode()
    try:
        results = fn(*fn_args)
    except LuaError as exc:
        if getattr(fn, "builtin", False):
            # A builtin registered as the function itself (FCALL): the error handler finds
            # no Lua frame above it, so the reply names no source and line.
            return _error_reply(exc.value, 0, label, b"")
        return _error_reply(exc.value, exc.line or rt.line, label, source)
    except RecursionError:
        return _error_reply(b"%s:%d: stack overflow" % (rt.chunk.encode(), rt.line), rt.line,
                            label, source)
    except ScriptKilled as exc:
        log.warning("Lua script killed by user with SCRIPT KILL.")
        return (b"-ERR Script killed by user with SCRIPT KILL... script: %s, on %s:%d.\r\n"
                % (label, source, exc.line))
    finally:
        rt.ctx = None
        rt.stack.clear()
        rt.deadline = math.inf
    out: list[bytes] = []
    value = results[0] if results else None
    convert.lua_to_resp(value, resp3, ctx.resp3, out)
    return CountedError(out[0]) if _counted(value) else b"".join(out)


def raise_recursion_limit() -> int:
    """Room on the Python stack for Lua code (each Lua call takes a few Python frames;
    runtime.MAX_DEPTH bounds Lua's own depth). Returns the limit to restore."""
    old_limit = sys.getrecursionlimit()
    if old_limit < LUA_RECURSION_LIMIT:
        sys.setrecursionlimit(LUA_RECURSION_LIMIT)
    return old_limit


def lua_array(values: list[bytes]) -> LuaTable:
    """luaCreateArray: the KEYS/ARGV table of a run (the keys/args of a function)."""
    t = LuaTable()
    t.arr = list(values)
    return t


def protect(t: LuaTable, seen: set[int] | None = None) -> None:
    """luaSetTableProtectionRecursively: every table reachable from `t` (and their
    metatables) becomes read-only."""
    if seen is None:
        seen = set()
    if id(t) in seen:
        return
    seen.add(id(t))
    t.readonly = True
    for _, v in t.items():
        if type(v) is LuaTable:
            protect(v, seen)
    if t.meta is not None:
        protect(t.meta, seen)


# Set (true) in the error table of a command's error reply: its error was counted when
# the command ran, so the script's reply does not count it again (Redis's field name).
IGNORE_STATS = b"ignore_error_stats_update"


def _error_reply(value: Any, line: int, label: bytes, source: bytes) -> bytes:
    """The reply for a script that raised `value`: the error handler turns a non-table
    into {err='ERR ' .. tostring(err)} and adds source and line (none: `source` empty)."""
    if type(value) is LuaTable:
        err = value.hash.get(b"err")
        if type(err) is not bytes:
            err = b"ERR " + _tostring_plain(value)
    else:
        err = b"ERR " + _tostring_plain(value)
    err = err.partition(b"\0")[0]  # Redis reads the message as a C string
    text = b"%s script: %s, on %s:%d." % (err, label, source, line) if source else err
    if text[:1] == b"-":
        text = text[1:]
    reply = b"-" + text.replace(b"\r", b" ").replace(b"\n", b" ") + b"\r\n"
    return CountedError(reply) if _counted(value) else reply


def _counted(value: Any) -> bool:
    return type(value) is LuaTable and value.hash.get(IGNORE_STATS) is True


def _tostring_plain(v: Any) -> bytes:
    t = type(v)
    if t is bytes:
        return v
    if t is float:
        return convert.fmt_number(v)
    if v is None:
        return b"nil"
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    return b"%s: %#x" % (type_name(v).encode(), id(v))
