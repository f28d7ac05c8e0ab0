"""Lua 5.1 parser: tokens -> AST (`ast`), with lparser.c's error texts."""

from __future__ import annotations

from typing import Any

from aikv.scripting import ast as A
from aikv.scripting.lexer import Token, tokenize
from aikv.scripting.values import LuaSyntaxError

# (left, right) binding priorities, lparser.c's priority[].
_BINARY = {
    "+": (6, 6), "-": (6, 6), "*": (7, 7), "/": (7, 7), "%": (7, 7),
    "^": (10, 9), "..": (5, 4),
    "==": (3, 3), "~=": (3, 3), "<": (3, 3), "<=": (3, 3), ">": (3, 3), ">=": (3, 3),
    "and": (2, 2), "or": (1, 1),
}
_UNARY_PRIORITY = 8
_BLOCK_END = frozenset({"else", "elseif", "end", "until", "eof"})


def _lexical(tok: Token) -> LuaSyntaxError:
    """The error an "error" token carries (see lexer.tokenize)."""
    assert isinstance(tok.value, LuaSyntaxError)
    return tok.value


class Parser:
    def __init__(self, src: bytes, chunk: str = "user_script") -> None:
        self.chunk = chunk
        self.toks = tokenize(src, chunk)
        self.pos = 0
        self.tok: Token = self.toks[0]
        if self.tok.kind == "error":
            raise _lexical(self.tok)
        # Per function being parsed: is it vararg; per block nesting: loop depth.
        self.vararg_stack: list[bool] = [True]
        self.loop_depth: list[int] = [0]

    # ------------------------------------------------------------ helpers
    def error(self, msg: str, tok: Token | None = None) -> LuaSyntaxError:
        tok = tok or self.tok
        return LuaSyntaxError(f"{self.chunk}:{tok.line}: {msg} near '{tok.raw}'")

    def advance(self) -> Token:
        tok = self.tok
        self.pos += 1
        self.tok = self.toks[self.pos] if self.pos < len(self.toks) else self.toks[-1]
        if self.tok.kind == "error":  # the lexer reached a bad token: its error now
            raise _lexical(self.tok)
        return tok

    def last_line(self) -> int:
        """The line of the last token consumed (Lua's ls->lastline)."""
        return self.toks[self.pos - 1].line

    def peek(self) -> Token:
        """The token after the current one (luaX_lookahead: reading it may fail)."""
        nxt = self.toks[self.pos + 1]
        if nxt.kind == "error":
            raise _lexical(nxt)
        return nxt

    def check(self, kind: str) -> None:
        if self.tok.kind != kind:
            raise self.error(f"'{kind}' expected")

    def expect(self, kind: str) -> Token:
        self.check(kind)
        return self.advance()

    def accept(self, kind: str) -> bool:
        if self.tok.kind == kind:
            self.advance()
            return True
        return False

    def match(self, what: str, who: str, line: int) -> None:
        if self.tok.kind != what:
            if line == self.tok.line:
                raise self.error(f"'{what}' expected")
            raise self.error(f"'{what}' expected (to close '{who}' at line {line})")
        self.advance()

    def name(self) -> str:
        if self.tok.kind != "name":
            raise self.error("'<name>' expected")
        return str(self.advance().value)

    # ------------------------------------------------------------ entry
    def chunk_body(self) -> A.Function:
        body = self.block()
        if self.tok.kind != "eof":
            raise self.error("'<eof>' expected")
        fn = A.Function([], True, body, "main chunk", self.tok.line)
        fn.line = 0
        return fn

    def block(self) -> list[A.Node]:
        stmts: list[A.Node] = []
        while self.tok.kind not in _BLOCK_END:
            if self.tok.kind == "return":
                stmts.append(self.return_stat())
                break
            if self.tok.kind == "break":
                line = self.tok.line
                self.advance()
                if not self.loop_depth[-1]:
                    raise self.error("no loop to break")
                node: A.Node = A.Break()
                node.line = line
                stmts.append(node)
                self.accept(";")
                break
            stmts.append(self.statement())
            self.accept(";")
        return stmts

    def return_stat(self) -> A.Node:
        line = self.tok.line
        self.advance()
        exprs: list[A.Node] = []
        if self.tok.kind not in _BLOCK_END and self.tok.kind != ";":
            exprs = self.exprlist()
        self.accept(";")
        node = A.Return(exprs)
        node.line = line
        return node

    def loop_body(self) -> list[A.Node]:
        self.loop_depth[-1] += 1
        try:
            return self.block()
        finally:
            self.loop_depth[-1] -= 1

    def statement(self) -> A.Node:
        tok = self.tok
        line = tok.line
        kind = tok.kind
        node: A.Node
        if kind == "if":
            tests: list[tuple[A.Node, list[A.Node]]] = []
            self.advance()
            cond = self.expr()
            self.expect("then")
            tests.append((cond, self.block()))
            orelse = None
            while self.tok.kind == "elseif":
                self.advance()
                cond = self.expr()
                self.expect("then")
                tests.append((cond, self.block()))
            if self.accept("else"):
                orelse = self.block()
            self.match("end", "if", line)
            node = A.If(tests, orelse)
        elif kind == "while":
            self.advance()
            cond = self.expr()
            self.expect("do")
            body = self.loop_body()
            self.match("end", "while", line)
            node = A.While(cond, body)
        elif kind == "do":
            self.advance()
            body = self.block()
            self.match("end", "do", line)
            node = A.Do(body)
        elif kind == "for":
            self.advance()
            first = self.name()
            if self.tok.kind == "=":
                self.advance()
                start = self.expr()
                self.expect(",")
                stop = self.expr()
                step = self.expr() if self.accept(",") else None
                self.expect("do")
                body = self.loop_body()
                self.match("end", "for", line)
                node = A.NumFor(first, start, stop, step, body)
            elif self.tok.kind in (",", "in"):
                names = [first]
                while self.accept(","):
                    names.append(self.name())
                self.expect("in")
                exprs = self.exprlist()
                self.expect("do")
                body = self.loop_body()
                self.match("end", "for", line)
                node = A.GenFor(names, exprs, body)
            else:
                raise self.error("'=' or 'in' expected")
        elif kind == "repeat":
            self.advance()
            body = self.loop_body()
            self.match("until", "repeat", line)
            cond = self.expr()
            node = A.Repeat(body, cond)
        elif kind == "function":
            self.advance()
            nline = self.tok.line
            target: A.Node = A.Name(self.name())
            target.line = nline
            fname = getattr(target, "name", "?")
            is_method = False
            while self.tok.kind in (".", ":"):
                sep = self.advance().kind
                kline = self.tok.line
                key = A.String(self.name().encode())
                key.line = kline
                fname = key.value.decode()
                target = A.Index(target, key)
                target.line = kline
                if sep == ":":
                    is_method = True
                    break
            func = self.funcbody(line, is_method, fname)
            node = A.Assign([target], [func], self.last_line())
        elif kind == "local":
            self.advance()
            if self.accept("function"):
                fname = self.name()
                func = self.funcbody(line, False, fname)
                node = A.LocalFunction(fname, func)
            else:
                names = [self.name()]
                while self.accept(","):
                    names.append(self.name())
                exprs = self.exprlist() if self.accept("=") else []
                node = A.Local(names, exprs)
        else:
            node = self.expr_stat()
        node.line = line
        return node

    def expr_stat(self) -> A.Node:
        # As Lua 5.1's exprstat / restassign: a call is a statement whatever follows it;
        # otherwise each target must be assignable as soon as it is read.
        e = self.suffixedexp()
        if isinstance(e, (A.Call, A.Method)):
            return A.CallStat(e)
        targets = [e]
        while True:
            if not isinstance(targets[-1], (A.Name, A.Index)):
                raise self.error("syntax error")
            if not self.accept(","):
                break
            targets.append(self.suffixedexp())
        self.expect("=")
        exprs = self.exprlist()
        return A.Assign(targets, exprs, self.last_line())

    def funcbody(self, line: int, is_method: bool, name: str) -> A.Function:
        params: list[str] = ["self"] if is_method else []
        is_vararg = False
        self.expect("(")
        if self.tok.kind != ")":
            while True:
                if self.tok.kind == "...":
                    self.advance()
                    is_vararg = True
                    break
                if self.tok.kind != "name":
                    raise self.error("<name> or '...' expected")  # (parlist's words)
                params.append(self.name())
                if not self.accept(","):
                    break
        self.expect(")")
        self.vararg_stack.append(is_vararg)
        self.loop_depth.append(0)
        try:
            body = self.block()
        finally:
            self.vararg_stack.pop()
            self.loop_depth.pop()
        end_line = self.tok.line
        self.match("end", "function", line)
        fn = A.Function(params, is_vararg, body, name, end_line)
        fn.line = line
        return fn

    # ------------------------------------------------------------ expressions
    def exprlist(self) -> list[A.Node]:
        exprs = [self.expr()]
        while self.accept(","):
            exprs.append(self.expr())
        return exprs

    def expr(self, limit: int = 0) -> A.Node:
        tok = self.tok
        left: A.Node
        if tok.kind in ("not", "-", "#"):
            self.advance()
            operand = self.expr(_UNARY_PRIORITY)
            if tok.kind == "-" and isinstance(operand, A.Number):
                left = A.Number(-operand.value)  # constant folding, as luaK_prefix does
            else:
                left = A.UnOp(tok.kind, operand)
            left.line = tok.line
        else:
            left = self.simpleexp()
        while True:
            op = self.tok.kind
            prio = _BINARY.get(op)
            if prio is None or prio[0] <= limit:
                return left
            line = self.tok.line
            self.advance()
            right = self.expr(prio[1])
            left = A.BinOp(op, left, right)
            left.line = line

    def simpleexp(self) -> A.Node:
        tok = self.tok
        kind = tok.kind
        node: A.Node
        if kind == "number":
            node = A.Number(tok.value)  # type: ignore[arg-type]
        elif kind == "string":
            node = A.String(tok.value)  # type: ignore[arg-type]
        elif kind == "nil":
            node = A.Nil()
        elif kind == "true":
            node = A.TrueE()
        elif kind == "false":
            node = A.FalseE()
        elif kind == "...":
            if not self.vararg_stack[-1]:
                raise self.error("cannot use '...' outside a vararg function")
            node = A.Vararg()
        elif kind == "{":
            return self.table()
        elif kind == "function":
            self.advance()
            return self.funcbody(tok.line, False, "?")
        else:
            return self.suffixedexp()
        node.line = tok.line
        self.advance()
        return node

    def primaryexp(self) -> A.Node:
        tok = self.tok
        if tok.kind == "name":
            self.advance()
            node: A.Node = A.Name(str(tok.value))
            node.line = tok.line
            return node
        if tok.kind == "(":
            line = tok.line
            self.advance()
            e = self.expr()
            self.match(")", "(", line)
            node = A.Paren(e)
            node.line = line
            return node
        raise self.error("unexpected symbol")

    def suffixedexp(self) -> A.Node:
        e = self.primaryexp()
        while True:
            tok = self.tok
            kind = tok.kind
            if kind == ".":
                self.advance()
                kline = self.tok.line
                key = A.String(self.name().encode())
                key.line = kline
                e = A.Index(e, key)
                e.line = tok.line
            elif kind == "[":
                self.advance()
                kexpr = self.expr()
                self.expect("]")
                e = A.Index(e, kexpr)
                e.line = tok.line
            elif kind == ":":
                self.advance()
                mname = self.name()
                line = self.tok.line
                args = self.callargs()
                e = A.Method(e, mname, args)
                e.line = line
            elif kind in ("(", "string", "{"):
                line = tok.line
                if kind == "(" and self.pos > 0 and self.toks[self.pos - 1].line != line:
                    raise self.error("ambiguous syntax (function call x new statement)")
                args = self.callargs()
                e = A.Call(e, args)
                e.line = line
            else:
                return e

    def callargs(self) -> list[A.Node]:
        tok = self.tok
        if tok.kind == "string":
            self.advance()
            s = A.String(tok.value)  # type: ignore[arg-type]
            s.line = tok.line
            return [s]
        if tok.kind == "{":
            return [self.table()]
        if tok.kind != "(":
            raise self.error("function arguments expected")
        line = tok.line
        self.advance()
        if self.tok.kind == ")":
            self.advance()
            return []
        args = self.exprlist()
        self.match(")", "(", line)
        return args

    def table(self) -> A.Node:
        line = self.tok.line
        self.expect("{")
        items: list[tuple[str, Any, A.Node]] = []
        while self.tok.kind != "}":
            if self.tok.kind == "name" and self.peek().kind == "=":
                key = A.String(self.name().encode())
                key.line = line
                self.advance()
                items.append(("key", key, self.expr()))
            elif self.tok.kind == "[":
                self.advance()
                k = self.expr()
                self.expect("]")
                self.expect("=")
                items.append(("key", k, self.expr()))
            else:
                items.append(("pos", None, self.expr()))
            if not (self.accept(",") or self.accept(";")):
                break
        self.match("}", "{", line)
        node = A.Table(items)
        node.line = line
        return node


def parse(src: bytes, chunk: str = "user_script") -> A.Function:
    return Parser(src, chunk).chunk_body()
