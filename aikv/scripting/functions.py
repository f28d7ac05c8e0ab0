"""Redis 7.0 FUNCTIONS: the library registry and its Lua state (facts from functions.c and
function_lua.c of redis-server 7.0.15; reply texts are that server's).

A library is Lua code starting with a shebang, `#!lua name=<library>`. FUNCTION LOAD runs
the code once; all it may do is call redis.register_function (and redis.log): while it
loads, its globals are a read-only table whose only entry is that small `redis` table, so
reading `string`, `pcall`, `redis.call`, ... is an error, as is writing a global. The
callbacks it registers run later, on FCALL, with the whole Lua API visible as read-only
globals, and get the keys and arguments as two tables (there are no KEYS/ARGV globals).

All libraries share one Lua state of their own (the EVAL state is separate, so SCRIPT
FLUSH does not touch them). Library names are case-sensitive; function names are looked
up without case across libraries (FCALL f finds F), but one library may register both.
Libraries are kept in load order, where Redis lists them in its hash table's order.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from aikv.protocol import split_inline_args
from aikv.scripting import convert
from aikv.scripting.compiler import compile_chunk
from aikv.scripting.engine import (
    SCRIPT_FLAGS,
    CallContext,
    call_lua,
    error_metatable,
    lua_array,
    new_runtime,
    protect,
    raise_recursion_limit,
)
from aikv.scripting.parser import parse
from aikv.scripting.runtime import EMPTY
from aikv.scripting.stdlib import _builtin
from aikv.scripting.values import LuaError, LuaSyntaxError, LuaTable, ScriptTimeout

log = logging.getLogger("aikv")

CHUNK = "user_function"
ENGINE_NAME = b"LUA"  # the only engine; a shebang names it in any case ("#!lua")
# FUNCTION LOAD stops library code running longer than this (Redis: LOAD_TIMEOUT_MS).
# Libraries restored from a payload or from disk are loaded without a limit, as Redis
# loads them from an RDB file or a replication stream.
LOAD_TIMEOUT_MS = 500
_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_BAD_NAME = ("Library names can only contain letters, numbers, or underscores(_) and must "
             "be at least one character long")


class FunctionError(Exception):
    """A refused FUNCTION request; args[0] is Redis's message, without the "ERR " code."""


class Function:
    __slots__ = ("name", "callback", "library", "description", "flags")

    def __init__(self, name: bytes, callback: Callable[..., list[Any]], library: Library,
                 description: bytes | None, flags: int) -> None:
        self.name = name
        self.callback = callback
        self.library = library
        self.description = description
        self.flags = flags

    def flag_names(self) -> list[bytes]:
        return [name for name, bit in SCRIPT_FLAGS.items() if self.flags & bit]


class Library:
    __slots__ = ("name", "code", "functions")

    def __init__(self, name: bytes, code: bytes) -> None:
        self.name = name
        self.code = code  # the whole payload, shebang included (LIST WITHCODE, DUMP)
        self.functions: dict[bytes, Function] = {}


class LibrarySet:
    """A set of libraries and the functions they register (Redis's functionsLibCtx): the
    live one, or one being restored from a payload before it is joined to the live one."""

    def __init__(self) -> None:
        self.libraries: dict[bytes, Library] = {}
        self.functions: dict[bytes, Function] = {}  # by lower-cased name

    def link(self, lib: Library) -> None:
        for fn in lib.functions.values():
            # Two names of one library differing only in case: the first one wins the
            # lookup, as dictAdd keeps the first in Redis.
            self.functions.setdefault(fn.name.lower(), fn)
        self.libraries[lib.name] = lib

    def unlink(self, lib: Library) -> None:
        for fn in lib.functions.values():
            if self.functions.get(fn.name.lower()) is fn:
                del self.functions[fn.name.lower()]
        del self.libraries[lib.name]

    def function_count(self) -> int:
        return sum(len(lib.functions) for lib in self.libraries.values())

    def codes(self) -> list[bytes]:
        return [lib.code for lib in self.libraries.values()]


def valid_name(name: bytes) -> bool:
    """functionsVerifyName: letters, digits and underscores, at least one."""
    return bool(name) and _NAME_CHARS.issuperset(name)


def parse_shebang(code: bytes) -> tuple[bytes, bytes]:
    """functionExtractLibMetaData: (engine, library name) from the first line."""
    if not code.startswith(b"#!"):
        raise FunctionError("Missing library metadata")
    # Redis reads the payload as a C string: a NUL ends it before any newline.
    end = code.find(b"\n", 0, code.find(b"\0") if b"\0" in code else len(code))
    if end < 0:
        raise FunctionError("Invalid library metadata")
    parts = split_inline_args(code[:end])
    if not parts:
        raise FunctionError("Invalid library metadata")
    engine = parts[0][2:]
    name: bytes | None = None
    for part in parts[1:]:
        if part[:5].lower() == b"name=":
            if name is not None:
                raise FunctionError(
                    "Invalid metadata value, name argument was given multiple times")
            name = part[5:]
            continue
        raise FunctionError("Invalid metadata value given: " + part.decode(errors="replace"))
    if name is None:
        raise FunctionError("Library name was not given")
    return engine, name


class FunctionEngine:
    """The FUNCTION Lua state and the live library set."""

    def __init__(self) -> None:
        rt = self.rt = new_runtime(CHUNK, eval_api=False)
        self.live = LibrarySet()
        # Stored libraries that did not load at start (see commands/functions.py): kept
        # on disk with the live ones until FUNCTION FLUSH (or RESTORE ... FLUSH) drops
        # them, never lost by a later change.
        self.kept: list[bytes] = []
        # The stored payload could not be read: nothing may overwrite it but a FLUSH.
        self.unreadable = False
        self._loading: Library | None = None
        # The library code's globals: an empty read-only table reading through its
        # metatable from the API table of the moment: the loading API while a library
        # loads, the whole API (Redis's globals) otherwise. Callbacks keep this table as
        # their globals, so at FCALL time they see the whole API.
        self._full_api = rt.G
        self._env_meta = LuaTable()
        self._env_meta.hash[b"__index"] = self._full_api
        env = LuaTable()
        env.meta = self._env_meta
        env.readonly = self._env_meta.readonly = True
        rt.G = env  # what compile_chunk binds the library code's global names to
        self._load_api = self._loading_api()

    def _loading_api(self) -> LuaTable:
        """The globals a library sees while it loads: `redis` with register_function, log
        and the version; any other name is an error to read."""
        rt = self.rt
        full_redis = self._full_api.hash[b"redis"].hash
        redis = LuaTable()

        def register_function(*args: Any) -> list[Any]:
            return self._register_function(*args)

        redis.hash[b"register_function"] = _builtin(register_function)
        for name in (b"log", b"LOG_DEBUG", b"LOG_VERBOSE", b"LOG_NOTICE", b"LOG_WARNING",
                     b"REDIS_VERSION_NUM", b"REDIS_VERSION"):
            redis.hash[name] = full_redis[name]
        redis.meta = error_metatable(rt)
        api = LuaTable()
        api.hash[b"redis"] = redis
        api.meta = error_metatable(rt)
        protect(api)
        return api

    # ------------------------------------------------------------ register_function
    def _register_function(self, *args: Any) -> list[Any]:
        rt = self.rt
        lib = self._loading
        if lib is None:
            # A callback kept the loading API's `redis` and calls it on FCALL.
            raise LuaError(convert.error_table(
                b"redis.register_function can only be called on FUNCTION LOAD command"),
                rt.line)
        if not 1 <= len(args) <= 2:
            raise _register_error(b"wrong number of arguments to redis.register_function")
        if len(args) == 1:
            name, callback, description, flags = _named_args(args[0])
        else:
            name, callback, description, flags = _positional_args(args[0], args[1])
        if not valid_name(name):
            raise _register_error(_BAD_NAME.encode())
        if name in lib.functions:
            raise _register_error(b"Function already exists in the library")
        lib.functions[name] = Function(name, callback, lib, description, flags)
        return EMPTY

    # ------------------------------------------------------------ libraries
    def create(self, code: bytes, replace: bool, into: LibrarySet | None = None,
               timeout_ms: int = 0) -> bytes:
        """functionsCreateWithLibraryCtx: load library `code` into `into` (the live set
        by default); return its name. FunctionError leaves `into` as it was."""
        target = self.live if into is None else into
        engine, name = parse_shebang(code)
        if not valid_name(name):
            raise FunctionError(_BAD_NAME)
        if engine.upper() != ENGINE_NAME:
            raise FunctionError("Engine '%s' not found" % engine.decode(errors="replace"))
        old = target.libraries.get(name)
        if old is not None and not replace:
            raise FunctionError("Library '%s' already exists" % name.decode(errors="replace"))
        if old is not None:
            target.unlink(old)
        try:
            lib = self._run_library(name, code, timeout_ms)
            if not lib.functions:
                raise FunctionError("No functions registered")
            for fn in lib.functions.values():
                if fn.name.lower() in target.functions:
                    raise FunctionError("Function %s already exists"
                                        % fn.name.decode(errors="replace"))
        except FunctionError:
            if old is not None:
                target.link(old)
            raise
        target.link(lib)
        return name

    def _run_library(self, name: bytes, code: bytes, timeout_ms: int) -> Library:
        """luaEngineCreate: compile the code after the shebang line (its newline kept, so
        line numbers count from the shebang) and run it with the loading API."""
        rt = self.rt
        body = code[code.index(b"\n"):]
        try:
            chunk = compile_chunk(rt, parse(body, CHUNK))
        except LuaSyntaxError as exc:
            raise FunctionError("Error compiling function: %s" % exc) from None
        except RecursionError:
            raise FunctionError("Error compiling function: %s: chunk has too many syntax "
                                "levels" % CHUNK) from None
        lib = Library(name, code)
        self._loading = lib
        self._env_meta.hash[b"__index"] = self._load_api
        rt.line = 0
        rt.stack.clear()
        rt.deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms > 0 else float("inf")
        old_limit = raise_recursion_limit()
        try:
            chunk()
        except LuaError as exc:
            raise FunctionError("Error registering functions: %s" % _load_error(exc.value)) \
                from None
        except RecursionError:
            raise FunctionError("Error registering functions: ERR %s:%d: stack overflow"
                                % (CHUNK, rt.line)) from None
        except ScriptTimeout:
            raise FunctionError("Error registering functions: ERR FUNCTION LOAD timeout") \
                from None
        finally:
            self._loading = None
            self._env_meta.hash[b"__index"] = self._full_api
            rt.deadline = float("inf")
            rt.stack.clear()
            sys.setrecursionlimit(old_limit)
        return lib

    def delete(self, name: bytes) -> None:
        lib = self.live.libraries.get(name)
        if lib is None:
            raise FunctionError("Library not found")
        self.live.unlink(lib)

    def flush(self) -> None:
        self.live = LibrarySet()
        self.kept = []
        self.unreadable = False

    def restore(self, codes: Iterable[bytes], policy: str) -> None:
        """FUNCTION RESTORE: load every library of `codes` into a new set, then take it
        whole ("flush") or join it to the live set ("append", "replace": on a library
        name collision, fail or replace). Nothing changes unless all of it succeeds."""
        incoming = LibrarySet()
        for code in codes:
            self.create(code, False, incoming)
        if policy == "flush":
            self.flush()
            self.live = incoming
            return
        live = self.live
        replaced = [live.libraries[name] for name in incoming.libraries
                    if name in live.libraries]
        if replaced and policy != "replace":
            raise FunctionError("Library %s already exists"
                                % replaced[0].name.decode(errors="replace"))
        for lib in replaced:
            live.unlink(lib)
        for key, fn in incoming.functions.items():
            if key in live.functions:
                for lib in replaced:
                    live.link(lib)
                raise FunctionError("Function %s already exists"
                                    % fn.name.decode(errors="replace"))
        for lib in incoming.libraries.values():
            live.link(lib)

    def find(self, name: bytes) -> Function | None:
        return self.live.functions.get(name.lower())

    # ------------------------------------------------------------ FCALL
    def call(self, fn: Function, keys: list[bytes], args: list[bytes], ctx: CallContext,
             resp3: bool, time_limit_ms: int) -> bytes:
        """luaEngineCall: the callback gets (keys, args); its result is the reply."""
        return call_lua(self.rt, fn.callback, (lua_array(keys), lua_array(args)), ctx, resp3,
                        time_limit_ms, fn.name)


def _register_error(text: bytes) -> LuaError:
    """luaPushError + luaError: an {err="ERR ..."} table; FUNCTION LOAD shows its text."""
    return LuaError(convert.error_table(text))


def _as_string(v: Any) -> bytes | None:
    """luaGetStringSds: strings, and numbers as Lua prints them; None otherwise."""
    if type(v) is bytes:
        return v
    if type(v) is float:
        return convert.fmt_number(v)
    return None


def _positional_args(name_arg: Any, callback: Any) -> tuple[bytes, Any, None, int]:
    name = _as_string(name_arg)
    if name is None:
        raise _register_error(b"first argument to redis.register_function must be a string")
    if not callable(callback):
        raise _register_error(
            b"second argument to redis.register_function must be a function")
    return name, callback, None, 0


def _named_args(table: Any) -> tuple[bytes, Any, bytes | None, int]:
    if type(table) is not LuaTable:
        raise _register_error(
            b"calling redis.register_function with a single argument is only applicable to "
            b"Lua table (representing named arguments).")
    name: bytes | None = None
    description: bytes | None = None
    callback: Any = None
    flags = 0
    for key, value in table.items():
        text = _as_string(key)
        if text is None:
            raise _register_error(
                b"named argument key given to redis.register_function is not a string")
        field = text.lower()
        if field == b"function_name":
            name = _as_string(value)
            if name is None:
                raise _register_error(b"function_name argument given to "
                                      b"redis.register_function must be a string")
        elif field == b"description":
            description = _as_string(value)
            if description is None:
                raise _register_error(b"description argument given to "
                                      b"redis.register_function must be a string")
        elif field == b"callback":
            if not callable(value):
                raise _register_error(b"callback argument given to "
                                      b"redis.register_function must be a function")
            callback = value
        elif field == b"flags":
            if type(value) is not LuaTable:
                raise _register_error(b"flags argument to redis.register_function must be "
                                      b"a table representing function flags")
            flags = _read_flags(value)
        else:
            raise _register_error(b"unknown argument given to redis.register_function")
    if name is None:
        raise _register_error(b"redis.register_function must get a function name argument")
    if callback is None:
        raise _register_error(b"redis.register_function must get a callback argument")
    return name, callback, description, flags


def _read_flags(table: LuaTable) -> int:
    """luaRegisterFunctionReadFlags: t[1], t[2], ... up to the first nil, each a flag
    name in any case."""
    flags = 0
    i = 1
    while True:
        value = table.get(float(i))
        if value is None:
            return flags
        text = _as_string(value)
        bit = SCRIPT_FLAGS.get(text.lower()) if text is not None else None
        if bit is None:
            raise _register_error(b"unknown flag given")
        flags |= bit
        i += 1


def _load_error(value: Any) -> str:
    """luaExtractErrorInformation's message for an error raised while a library loads
    (no error handler runs then): "ERR <text>" for a string, a table's `err` field."""
    if type(value) is bytes or type(value) is float:
        return "ERR " + _as_string(value).decode(errors="replace")  # type: ignore[union-attr]
    if type(value) is LuaTable:
        err = value.hash.get(b"err")
        if type(err) is bytes:
            return err.decode(errors="replace")
    return "(null)"
