"""The Lua AST: plain classes with slots, built by `parser`, read by `compiler`."""

from __future__ import annotations

from typing import Any


class Node:
    __slots__ = ("line",)
    line: int


class Nil(Node):
    __slots__ = ()


class TrueE(Node):
    __slots__ = ()


class FalseE(Node):
    __slots__ = ()


class Number(Node):
    __slots__ = ("value",)

    def __init__(self, value: float) -> None:
        self.value = value


class String(Node):
    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value


class Vararg(Node):
    __slots__ = ()


class Name(Node):
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Index(Node):
    __slots__ = ("obj", "key")

    def __init__(self, obj: Node, key: Node) -> None:
        self.obj = obj
        self.key = key


class Call(Node):
    __slots__ = ("fn", "args")

    def __init__(self, fn: Node, args: list[Node]) -> None:
        self.fn = fn
        self.args = args


class Method(Node):
    __slots__ = ("obj", "name", "args")

    def __init__(self, obj: Node, name: str, args: list[Node]) -> None:
        self.obj = obj
        self.name = name
        self.args = args


class Function(Node):
    __slots__ = ("params", "is_vararg", "body", "name", "end_line")

    def __init__(self, params: list[str], is_vararg: bool, body: list[Node], name: str,
                 end_line: int) -> None:
        self.params = params
        self.is_vararg = is_vararg
        self.body = body
        self.name = name
        self.end_line = end_line


class BinOp(Node):
    __slots__ = ("op", "a", "b")

    def __init__(self, op: str, a: Node, b: Node) -> None:
        self.op = op
        self.a = a
        self.b = b


class UnOp(Node):
    __slots__ = ("op", "a")

    def __init__(self, op: str, a: Node) -> None:
        self.op = op
        self.a = a


class Paren(Node):
    __slots__ = ("e",)

    def __init__(self, e: Node) -> None:
        self.e = e


class Table(Node):
    # items: ("pos", None, value) | ("key", keyexpr, value)
    __slots__ = ("items",)

    def __init__(self, items: list[tuple[str, Any, Node]]) -> None:
        self.items = items


# ---------------------------------------------------------------- statements
class Local(Node):
    __slots__ = ("names", "exprs")

    def __init__(self, names: list[str], exprs: list[Node]) -> None:
        self.names = names
        self.exprs = exprs


class LocalFunction(Node):
    __slots__ = ("name", "func")

    def __init__(self, name: str, func: Function) -> None:
        self.name = name
        self.func = func


class Assign(Node):
    # store_line: where Lua's code generator is when it emits the stores, after the
    # values: the line of the statement's last token (ls->lastline), which the errors of
    # the stores report ("Attempt to modify a readonly table", __newindex errors).
    __slots__ = ("targets", "exprs", "store_line")

    def __init__(self, targets: list[Node], exprs: list[Node], store_line: int) -> None:
        self.targets = targets
        self.exprs = exprs
        self.store_line = store_line


class CallStat(Node):
    __slots__ = ("call",)

    def __init__(self, call: Node) -> None:
        self.call = call


class Do(Node):
    __slots__ = ("body",)

    def __init__(self, body: list[Node]) -> None:
        self.body = body


class While(Node):
    __slots__ = ("cond", "body")

    def __init__(self, cond: Node, body: list[Node]) -> None:
        self.cond = cond
        self.body = body


class Repeat(Node):
    __slots__ = ("body", "cond")

    def __init__(self, body: list[Node], cond: Node) -> None:
        self.body = body
        self.cond = cond


class If(Node):
    __slots__ = ("tests", "orelse")

    def __init__(self, tests: list[tuple[Node, list[Node]]], orelse: list[Node] | None) -> None:
        self.tests = tests
        self.orelse = orelse


class NumFor(Node):
    __slots__ = ("var", "start", "stop", "step", "body")

    def __init__(self, var: str, start: Node, stop: Node, step: Node | None,
                 body: list[Node]) -> None:
        self.var = var
        self.start = start
        self.stop = stop
        self.step = step
        self.body = body


class GenFor(Node):
    __slots__ = ("names", "exprs", "body")

    def __init__(self, names: list[str], exprs: list[Node], body: list[Node]) -> None:
        self.names = names
        self.exprs = exprs
        self.body = body


class Return(Node):
    __slots__ = ("exprs",)

    def __init__(self, exprs: list[Node]) -> None:
        self.exprs = exprs


class Break(Node):
    __slots__ = ()
