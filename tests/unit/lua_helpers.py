"""Running Lua snippets in the scripting engine without a server (redis.call answers
from a small fake)."""

from __future__ import annotations

from typing import Any

from aikv.scripting.convert import resp_to_lua
from aikv.scripting.engine import CallContext, Engine


class FakeContext(CallContext):
    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def execute(self, argv: list[bytes], raise_error: bool) -> Any:
        self.calls.append(argv)
        if argv[0].lower() == b"ping":
            return resp_to_lua(b"+PONG\r\n")
        if argv[0].lower() == b"echo":
            return resp_to_lua(b"$%d\r\n%s\r\n" % (len(argv[1]), argv[1]))
        return resp_to_lua(b"-ERR unknown command\r\n")


ENGINE = Engine()


def run(src: str, keys: tuple[str, ...] = (), args: tuple[str, ...] = (),
        time_limit_ms: int = 5000) -> bytes:
    script = ENGINE.load(src.encode())
    return ENGINE.run(script, [k.encode() for k in keys], [a.encode() for a in args],
                      FakeContext(), False, time_limit_ms)


def value(src: str) -> bytes:
    """The script's return value as tostring() shows it (a bulk reply's payload)."""
    reply = run("return tostring((function() " + src + " end)())")
    assert reply.startswith(b"$"), reply
    return reply.split(b"\r\n", 1)[1][:-2]
