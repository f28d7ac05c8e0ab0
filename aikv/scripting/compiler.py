"""AST -> Python closures.

Every expression becomes `ev(f) -> value` (and, for calls and `...`, `evm(f) -> list`);
every statement `ex(f) -> None | BREAK | list` (None: go on; BREAK: leave the loop; a
list: the function returns those values). `f` is the activation's frame: a list with the
upvalue cells at [0], the varargs at [1] and the locals from [2] on. A local that some
inner function captures lives in a `Cell`, created when its declaration runs, so each
loop iteration gets a fresh one, as in Lua.

A resolver pass first decides, for every name, whether it is a local (and which slot), an
upvalue (which cell) or a global, and which locals are captured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aikv.scripting import ast as A
from aikv.scripting import runtime as R
from aikv.scripting.runtime import EMPTY, MAX_DEPTH, Cell, Runtime
from aikv.scripting.table_order import fb2int, int2fb
from aikv.scripting.values import LuaError, LuaTable, fmt_number

Ev = Callable[[list[Any]], Any]
Evm = Callable[[list[Any]], list[Any]]
Ex = Callable[[list[Any]], Any]


class _Break:
    __slots__ = ()


BREAK = _Break()


# ---------------------------------------------------------------------------- resolver
class VarInfo:
    __slots__ = ("name", "slot", "captured")

    def __init__(self, name: str, slot: int) -> None:
        self.name = name
        self.slot = slot
        self.captured = False


class FuncInfo:
    def __init__(self, parent: FuncInfo | None) -> None:
        self.parent = parent
        self.scopes: list[dict[str, VarInfo]] = [{}]
        self.nslots = 2
        # Upvalues: ("local", VarInfo of the parent) or ("up", index in parent's list).
        self.upvals: list[tuple[str, Any]] = []
        self.upval_index: dict[int, int] = {}  # id(VarInfo) -> index

    def declare(self, name: str) -> VarInfo:
        vi = VarInfo(name, self.nslots)
        self.nslots += 1
        self.scopes[-1][name] = vi
        return vi

    def lookup(self, name: str) -> VarInfo | None:
        for scope in reversed(self.scopes):
            vi = scope.get(name)
            if vi is not None:
                return vi
        return None

    def find_upval(self, name: str) -> tuple[int, VarInfo] | None:
        parent = self.parent
        if parent is None:
            return None
        vi = parent.lookup(name)
        if vi is not None:
            vi.captured = True
            key = id(vi)
            if key not in self.upval_index:
                self.upval_index[key] = len(self.upvals)
                self.upvals.append(("local", vi))
            return self.upval_index[key], vi
        found = parent.find_upval(name)
        if found is None:
            return None
        pidx, vi = found
        key = id(vi)
        if key not in self.upval_index:
            self.upval_index[key] = len(self.upvals)
            self.upvals.append(("up", pidx))
        return self.upval_index[key], vi


class Resolver:
    def __init__(self) -> None:
        self.names: dict[int, tuple[str, Any]] = {}    # id(Name) -> resolution
        self.decls: dict[int, list[VarInfo]] = {}      # id(stmt) -> declared locals
        self.funcs: dict[int, FuncInfo] = {}           # id(Function) -> info
        self.fs: FuncInfo | None = None

    def function(self, fn: A.Function) -> None:
        fs = FuncInfo(self.fs)
        self.funcs[id(fn)] = fs
        self.fs = fs
        self.decls[id(fn)] = [fs.declare(p) for p in fn.params]
        self.block(fn.body, new_scope=False)
        self.fs = fs.parent

    def block(self, body: list[A.Node], new_scope: bool = True) -> None:
        fs = self.fs
        assert fs is not None
        if new_scope:
            fs.scopes.append({})
        for s in body:
            self.stmt(s)
        if new_scope:
            fs.scopes.pop()

    def stmt(self, s: A.Node) -> None:
        fs = self.fs
        assert fs is not None
        t = type(s)
        if t is A.Local:
            for e in s.exprs:  # type: ignore[attr-defined]
                self.expr(e)
            self.decls[id(s)] = [fs.declare(n) for n in s.names]  # type: ignore[attr-defined]
        elif t is A.LocalFunction:
            self.decls[id(s)] = [fs.declare(s.name)]  # type: ignore[attr-defined]
            self.function(s.func)  # type: ignore[attr-defined]
        elif t is A.Assign:
            for e in s.targets:  # type: ignore[attr-defined]
                self.expr(e)
            for e in s.exprs:  # type: ignore[attr-defined]
                self.expr(e)
        elif t is A.CallStat:
            self.expr(s.call)  # type: ignore[attr-defined]
        elif t is A.Do:
            self.block(s.body)  # type: ignore[attr-defined]
        elif t is A.While:
            self.expr(s.cond)  # type: ignore[attr-defined]
            self.block(s.body)  # type: ignore[attr-defined]
        elif t is A.Repeat:
            fs.scopes.append({})
            for st in s.body:  # type: ignore[attr-defined]
                self.stmt(st)
            self.expr(s.cond)  # type: ignore[attr-defined]
            fs.scopes.pop()
        elif t is A.If:
            for cond, body in s.tests:  # type: ignore[attr-defined]
                self.expr(cond)
                self.block(body)
            if s.orelse is not None:  # type: ignore[attr-defined]
                self.block(s.orelse)  # type: ignore[attr-defined]
        elif t is A.NumFor:
            self.expr(s.start)  # type: ignore[attr-defined]
            self.expr(s.stop)  # type: ignore[attr-defined]
            if s.step is not None:  # type: ignore[attr-defined]
                self.expr(s.step)  # type: ignore[attr-defined]
            fs.scopes.append({})
            self.decls[id(s)] = [fs.declare(s.var)]  # type: ignore[attr-defined]
            self.block(s.body)  # type: ignore[attr-defined]
            fs.scopes.pop()
        elif t is A.GenFor:
            for e in s.exprs:  # type: ignore[attr-defined]
                self.expr(e)
            fs.scopes.append({})
            self.decls[id(s)] = [fs.declare(n) for n in s.names]  # type: ignore[attr-defined]
            self.block(s.body)  # type: ignore[attr-defined]
            fs.scopes.pop()
        elif t is A.Return:
            for e in s.exprs:  # type: ignore[attr-defined]
                self.expr(e)

    def expr(self, e: A.Node) -> None:
        fs = self.fs
        assert fs is not None
        t = type(e)
        if t is A.Name:
            name = e.name  # type: ignore[attr-defined]
            vi = fs.lookup(name)
            if vi is not None:
                self.names[id(e)] = ("local", vi)
                return
            up = fs.find_upval(name)
            if up is not None:
                self.names[id(e)] = ("upval", up[0])
            else:
                self.names[id(e)] = ("global", name)
        elif t is A.Index:
            self.expr(e.obj)  # type: ignore[attr-defined]
            self.expr(e.key)  # type: ignore[attr-defined]
        elif t is A.Call:
            self.expr(e.fn)  # type: ignore[attr-defined]
            for a in e.args:  # type: ignore[attr-defined]
                self.expr(a)
        elif t is A.Method:
            self.expr(e.obj)  # type: ignore[attr-defined]
            for a in e.args:  # type: ignore[attr-defined]
                self.expr(a)
        elif t is A.Function:
            self.function(e)  # type: ignore[arg-type]
        elif t is A.BinOp:
            self.expr(e.a)  # type: ignore[attr-defined]
            self.expr(e.b)  # type: ignore[attr-defined]
        elif t is A.UnOp:
            self.expr(e.a)  # type: ignore[attr-defined]
        elif t is A.Paren:
            self.expr(e.e)  # type: ignore[attr-defined]
        elif t is A.Table:
            for _, k, v in e.items:  # type: ignore[attr-defined]
                if k is not None:
                    self.expr(k)
                self.expr(v)


# ---------------------------------------------------------------------------- compiler
def _is_multi(e: A.Node) -> bool:
    return type(e) in (A.Call, A.Method, A.Vararg)


class Compiler:
    def __init__(self, rt: Runtime, res: Resolver) -> None:
        self.rt = rt
        self.res = res
        self._cur_a_slot: int | None = None

    # ---------------------------------------------------------------- functions
    def function(self, fn: A.Function) -> Callable[[list[Any]], Any]:
        """Returns `make(f)`: builds the closure in the enclosing frame `f`."""
        rt = self.rt
        fs = self.res.funcs[id(fn)]
        params = self.res.decls[id(fn)]
        body = self.block(fn.body)
        nslots = fs.nslots
        nparams = len(params)
        captured_params = [p.slot for p in params if p.captured]
        is_vararg = fn.is_vararg
        upspec = [(kind, ref.slot if kind == "local" else ref) for kind, ref in fs.upvals]
        stack = rt.stack

        def make(parent: list[Any]) -> Callable[..., list[Any]]:
            upv = [parent[ref] if kind == "local" else parent[0][ref] for kind, ref in upspec]
            template: list[Any] = [None] * nslots
            template[0] = upv

            if not is_vararg and not captured_params and nparams <= 2:
                if nparams == 0:
                    def lua_fn0(*args: Any) -> list[Any]:
                        f = template.copy()
                        if len(stack) >= MAX_DEPTH:
                            raise rt.error("stack overflow")
                        stack.append(rt.line)
                        r = body(f)
                        rt.line = stack.pop()
                        return EMPTY if r is None else r
                    return lua_fn0
                if nparams == 1:
                    def lua_fn1(*args: Any) -> list[Any]:
                        f = template.copy()
                        if args:
                            f[2] = args[0]
                        if len(stack) >= MAX_DEPTH:
                            raise rt.error("stack overflow")
                        stack.append(rt.line)
                        r = body(f)
                        rt.line = stack.pop()
                        return EMPTY if r is None else r
                    return lua_fn1

                def lua_fn2(*args: Any) -> list[Any]:
                    f = template.copy()
                    n = len(args)
                    if n >= 2:
                        f[2] = args[0]
                        f[3] = args[1]
                    elif n:
                        f[2] = args[0]
                    if len(stack) >= MAX_DEPTH:
                        raise rt.error("stack overflow")
                    stack.append(rt.line)
                    r = body(f)
                    rt.line = stack.pop()
                    return EMPTY if r is None else r
                return lua_fn2

            def lua_fn(*args: Any) -> list[Any]:
                f = template.copy()
                n = len(args)
                if n >= nparams:
                    f[2:2 + nparams] = args[:nparams]
                else:
                    f[2:2 + n] = args
                if is_vararg:
                    f[1] = args[nparams:]
                for s in captured_params:
                    f[s] = Cell(f[s])
                if len(stack) >= MAX_DEPTH:
                    raise rt.error("stack overflow")
                stack.append(rt.line)
                r = body(f)
                rt.line = stack.pop()
                return EMPTY if r is None else r

            return lua_fn

        return make

    def chunk(self, fn: A.Function) -> Callable[..., list[Any]]:
        make = self.function(fn)
        return make([[]])

    # ---------------------------------------------------------------- blocks
    def block(self, body: list[A.Node]) -> Ex:
        stmts = [self.stmt(s) for s in body]
        if not stmts:
            return lambda f: None
        if len(stmts) == 1:
            return stmts[0]
        if len(stmts) == 2:
            s1, s2 = stmts

            def block2(f: list[Any]) -> Any:
                r = s1(f)
                if r is not None:
                    return r
                return s2(f)

            return block2

        def block_n(f: list[Any]) -> Any:
            for s in stmts:
                r = s(f)
                if r is not None:
                    return r
            return None

        return block_n

    # ---------------------------------------------------------------- statements
    def stmt(self, s: A.Node) -> Ex:
        method = getattr(self, "s_" + type(s).__name__)
        return method(s)

    def s_Local(self, s: A.Local) -> Ex:
        vis = self.res.decls[id(s)]
        if len(vis) == 1 and len(s.exprs) == 1:
            vi = vis[0]
            slot = vi.slot
            e = self.expr(s.exprs[0])
            if vi.captured:
                def local1c(f: list[Any]) -> None:
                    f[slot] = Cell(e(f))
                return local1c

            def local1(f: list[Any]) -> None:
                f[slot] = e(f)
            return local1
        values = self.explist(s.exprs, len(vis))
        slots = [(vi.slot, vi.captured) for vi in vis]

        def local_n(f: list[Any]) -> None:
            vals = values(f)
            for (slot, captured), v in zip(slots, vals, strict=False):
                f[slot] = Cell(v) if captured else v
        return local_n

    def s_LocalFunction(self, s: A.LocalFunction) -> Ex:
        vi = self.res.decls[id(s)][0]
        slot = vi.slot
        make = self.function(s.func)
        if vi.captured:
            def localfunc_c(f: list[Any]) -> None:
                cell = Cell(None)
                f[slot] = cell
                cell.v = make(f)
            return localfunc_c

        def localfunc(f: list[Any]) -> None:
            f[slot] = make(f)
        return localfunc

    def s_Assign(self, s: A.Assign) -> Ex:
        rt = self.rt
        line = s.store_line
        if len(s.targets) == 1 and len(s.exprs) == 1:
            return self.assign1(s.targets[0], self.expr(s.exprs[0]), line)
        # Evaluate the targets' tables and keys, then the values, then assign.
        prepared: list[tuple[str, Any, Any, str | None, int]] = []
        for t in s.targets:
            if type(t) is A.Index:
                prepared.append(("index", self.expr(t.obj), self.expr(t.key),
                                 self.desc(t.obj), line))
            else:
                prepared.append(("name", self.setter(t, line), None, None, line))
        values = self.explist(s.exprs, len(s.targets))

        def assign_n(f: list[Any]) -> None:
            refs = [(kind, a(f) if kind == "index" else a, b(f) if b is not None else None, d, line)
                    for kind, a, b, d, line in prepared]
            vals = values(f)
            for (kind, a, b, d, line), v in reversed(list(zip(refs, vals, strict=False))):
                if kind == "index":
                    R.setindex(rt, a, b, v, line, d)
                else:
                    a(f, v)
        return assign_n

    def setter(self, t: A.Node, line: int) -> Callable[[list[Any], Any], None]:
        """For a Name target: set(f, value); `line` is the store's, for its errors."""
        rt = self.rt
        kind, ref = self.res.names[id(t)]
        if kind == "local":
            slot = ref.slot
            if ref.captured:
                def set_cell(f: list[Any], v: Any) -> None:
                    f[slot].v = v
                return set_cell

            def set_local(f: list[Any], v: Any) -> None:
                f[slot] = v
            return set_local
        if kind == "upval":
            idx = ref

            def set_up(f: list[Any], v: Any) -> None:
                f[0][idx].v = v
            return set_up
        key = ref.encode()
        G = rt.G

        def set_global(f: list[Any], v: Any) -> None:
            R.setindex(rt, G, key, v, line)
        return set_global

    def assign1(self, target: A.Node, e: Ev, line: int) -> Ex:
        rt = self.rt
        if type(target) is A.Name:
            kind, ref = self.res.names[id(target)]
            if kind == "local" and not ref.captured:
                slot = ref.slot

                def assign_local(f: list[Any]) -> None:
                    f[slot] = e(f)
                return assign_local
            setter = self.setter(target, line)

            def assign_name(f: list[Any]) -> None:
                setter(f, e(f))
            return assign_name
        assert type(target) is A.Index
        eo = self.expr(target.obj)
        desc = self.desc(target.obj)
        if type(target.key) is A.String:
            ck = target.key.value

            def assign_field(f: list[Any]) -> None:
                o = eo(f)
                v = e(f)
                if type(o) is LuaTable and o.meta is None and not o.readonly:
                    if v is None:
                        o.hash.pop(ck, None)
                    else:
                        o.hash[ck] = v
                else:
                    R.setindex(rt, o, ck, v, line, desc)
            return assign_field
        ek = self.expr(target.key)

        def assign_index(f: list[Any]) -> None:
            o = eo(f)
            k = ek(f)
            v = e(f)
            if type(o) is LuaTable and o.meta is None and not o.readonly:
                try:
                    o.set(k, v)
                except LuaError as exc:
                    raise rt.error(exc.value, line) from None
            else:
                R.setindex(rt, o, k, v, line, desc)
        return assign_index

    def s_CallStat(self, s: A.CallStat) -> Ex:
        call = self.multi(s.call)

        def call_stat(f: list[Any]) -> None:
            call(f)
        return call_stat

    def s_Do(self, s: A.Do) -> Ex:
        return self.block(s.body)

    def s_While(self, s: A.While) -> Ex:
        rt = self.rt
        line = s.line
        cond = self.test(s.cond)
        body = self.block(s.body)

        def while_(f: list[Any]) -> Any:
            n = 0
            while cond(f):
                r = body(f)
                if r is not None:
                    if r is BREAK:
                        return None
                    return r
                n += 1
                if not n & 1023:
                    rt.check_time(line)
            return None
        return while_

    def s_Repeat(self, s: A.Repeat) -> Ex:
        rt = self.rt
        line = s.line
        cond = self.test(s.cond)
        body = self.block(s.body)

        def repeat(f: list[Any]) -> Any:
            n = 0
            while True:
                r = body(f)
                if r is not None:
                    if r is BREAK:
                        return None
                    return r
                if cond(f):
                    return None
                n += 1
                if not n & 1023:
                    rt.check_time(line)
        return repeat

    def s_If(self, s: A.If) -> Ex:
        tests = [(self.test(c), self.block(b)) for c, b in s.tests]
        orelse = self.block(s.orelse) if s.orelse is not None else None
        if len(tests) == 1:
            c1, b1 = tests[0]
            if orelse is None:
                def if1(f: list[Any]) -> Any:
                    if c1(f):
                        return b1(f)
                    return None
                return if1

            def if_else(f: list[Any]) -> Any:
                if c1(f):
                    return b1(f)
                return orelse(f)
            return if_else

        def if_n(f: list[Any]) -> Any:
            for c, b in tests:
                if c(f):
                    return b(f)
            if orelse is not None:
                return orelse(f)
            return None
        return if_n

    def s_NumFor(self, s: A.NumFor) -> Ex:
        rt = self.rt
        vi = self.res.decls[id(s)][0]
        slot, captured = vi.slot, vi.captured
        e_start, e_stop = self.expr(s.start), self.expr(s.stop)
        e_step = self.expr(s.step) if s.step is not None else None
        body = self.block(s.body)
        line = s.line

        def numfor(f: list[Any]) -> Any:
            start = R.tonum(e_start(f))
            if start is None:
                raise rt.error("'for' initial value must be a number", line)
            stop = R.tonum(e_stop(f))
            if stop is None:
                raise rt.error("'for' limit must be a number", line)
            if e_step is not None:
                step = R.tonum(e_step(f))
                if step is None:
                    raise rt.error("'for' step must be a number", line)
            else:
                step = 1.0
            i = start
            n = 0
            if step > 0 and not captured:
                while i <= stop:
                    f[slot] = i
                    r = body(f)
                    if r is not None:
                        if r is BREAK:
                            return None
                        return r
                    i += step
                    n += 1
                    if not n & 1023:
                        rt.check_time(line)
            elif step > 0:
                while i <= stop:
                    f[slot] = Cell(i) if captured else i
                    r = body(f)
                    if r is not None:
                        if r is BREAK:
                            return None
                        return r
                    i += step
                    n += 1
                    if not n & 1023:
                        rt.check_time(line)
            else:
                while i >= stop:
                    f[slot] = Cell(i) if captured else i
                    r = body(f)
                    if r is not None:
                        if r is BREAK:
                            return None
                        return r
                    i += step
                    n += 1
                    if not n & 1023:
                        rt.check_time(line)
            return None
        return numfor

    def s_GenFor(self, s: A.GenFor) -> Ex:
        rt = self.rt
        vis = self.res.decls[id(s)]
        slots = [(vi.slot, vi.captured) for vi in vis]
        nvars = len(slots)
        k_slot, k_cap = slots[0]
        v_slot, v_cap = slots[1] if nvars > 1 else (None, False)
        init = self.explist(s.exprs, 3)
        body = self.block(s.body)
        line = s.line

        def genfor(f: list[Any]) -> Any:
            fn, state, ctl = init(f)
            n = 0
            if fn is rt.next_fn and type(state) is LuaTable and ctl is None and nvars <= 2:
                # pairs(t): iterate a snapshot of the keys, skipping those cleared meanwhile.
                get = state.get
                for k, v in state.items():
                    if n and get(k) is None:
                        continue
                    f[k_slot] = Cell(k) if k_cap else k
                    if v_slot is not None:
                        f[v_slot] = Cell(v) if v_cap else v
                    r = body(f)
                    if r is not None:
                        if r is BREAK:
                            return None
                        return r
                    n += 1
                    if not n & 1023:
                        rt.check_time(line)
                return None
            if fn is rt.inext_fn and type(state) is LuaTable and ctl == 0.0 and nvars <= 2:
                i = 1.0
                get = state.get
                while True:
                    v = get(i)
                    if v is None:
                        return None
                    f[k_slot] = Cell(i) if k_cap else i
                    if v_slot is not None:
                        f[v_slot] = Cell(v) if v_cap else v
                    r = body(f)
                    if r is not None:
                        if r is BREAK:
                            return None
                        return r
                    i += 1.0
                    n += 1
                    if not n & 1023:
                        rt.check_time(line)
            while True:
                rs = R.call(rt, fn, (state, ctl), line)
                ctl = rs[0] if rs else None
                if ctl is None:
                    return None
                for i, (slot, cap) in enumerate(slots):
                    v = rs[i] if i < len(rs) else None
                    f[slot] = Cell(v) if cap else v
                r = body(f)
                if r is not None:
                    if r is BREAK:
                        return None
                    return r
                n += 1
                if not n & 1023:
                    rt.check_time(line)
        return genfor

    def s_Return(self, s: A.Return) -> Ex:
        exprs = s.exprs
        if not exprs:
            return lambda f: EMPTY
        if len(exprs) == 1:
            e = exprs[0]
            if _is_multi(e):
                return self.multi(e)
            ev = self.expr(e)
            return lambda f: [ev(f)]
        values = self.explist(exprs, None)
        return values

    def s_Break(self, s: A.Break) -> Ex:
        return lambda f: BREAK

    # ---------------------------------------------------------------- expression lists
    def explist(self, exprs: list[A.Node], want: int | None) -> Evm:
        """Values of an expression list: adjusted to `want` values (None: all)."""
        if not exprs:
            if want is None:
                return lambda f: EMPTY
            pad = [None] * want
            return lambda f: pad
        last = exprs[-1]
        fixed = [self.expr(e) for e in (exprs[:-1] if _is_multi(last) else exprs)]
        tail = self.multi(last) if _is_multi(last) else None
        if want is None:
            if tail is None:
                return lambda f: [e(f) for e in fixed]
            if not fixed:
                return tail

            def with_tail(f: list[Any]) -> list[Any]:
                vals = [e(f) for e in fixed]
                vals.extend(tail(f))
                return vals
            return with_tail
        nfixed = len(fixed)
        if tail is None:
            if nfixed >= want:
                def trunc(f: list[Any]) -> list[Any]:
                    vals = [e(f) for e in fixed]
                    return vals[:want]
                return trunc
            padding = [None] * (want - nfixed)
            return lambda f: [e(f) for e in fixed] + padding

        def adjust(f: list[Any]) -> list[Any]:
            vals = [e(f) for e in fixed]
            vals.extend(tail(f))
            if len(vals) < want:
                vals.extend([None] * (want - len(vals)))
            return vals[:want]
        return adjust

    # ---------------------------------------------------------------- expressions
    def local_slot(self, e: A.Node) -> int | None:
        """The frame slot of a plain (uncaptured) local, read inline by hot closures."""
        if type(e) is A.Name:
            kind, ref = self.res.names[id(e)]
            if kind == "local" and not ref.captured:
                return ref.slot
        return None

    def desc(self, e: A.Node) -> str | None:
        """How Lua names the value of `e` in an error message."""
        t = type(e)
        if t is A.Name:
            kind, ref = self.res.names[id(e)]
            if kind == "local":
                return f"local '{e.name}'"  # type: ignore[attr-defined]
            if kind == "upval":
                return f"upvalue '{e.name}'"  # type: ignore[attr-defined]
            return f"global '{e.name}'"  # type: ignore[attr-defined]
        if t is A.Index:
            # Lua 5.1 names an indexed value by its key when that is a string constant,
            # and "?" for any other key (a number such as KEYS[1]'s, a variable).
            key = e.key  # type: ignore[attr-defined]
            if type(key) is A.String:
                return f"field '{key.value.decode(errors='replace')}'"
            return "field '?'"
        if t is A.Method:
            return f"method '{e.name}'"  # type: ignore[attr-defined]
        return None

    def test(self, e: A.Node) -> Callable[[list[Any]], bool]:
        """A condition: Python truth of a Lua value."""
        t = type(e)
        if t is A.BinOp and e.op in ("==", "~=", "<", "<=", ">", ">="):  # type: ignore[attr-defined]
            return self.expr(e)  # these already yield bool
        if t is A.UnOp and e.op == "not":  # type: ignore[attr-defined]
            return self.expr(e)
        ev = self.expr(e)

        def truth(f: list[Any]) -> bool:
            v = ev(f)
            return v is not None and v is not False
        return truth

    def multi(self, e: A.Node) -> Evm:
        t = type(e)
        if t is A.Call:
            return self.call(e)  # type: ignore[arg-type]
        if t is A.Method:
            return self.method(e)  # type: ignore[arg-type]
        if t is A.Vararg:
            return lambda f: f[1]
        ev = self.expr(e)
        return lambda f: [ev(f)]

    def expr(self, e: A.Node) -> Ev:
        method = getattr(self, "e_" + type(e).__name__)
        return method(e)

    def e_Nil(self, e: A.Node) -> Ev:
        return lambda f: None

    def e_TrueE(self, e: A.Node) -> Ev:
        return lambda f: True

    def e_FalseE(self, e: A.Node) -> Ev:
        return lambda f: False

    def e_Number(self, e: A.Number) -> Ev:
        v = e.value
        return lambda f: v

    def e_String(self, e: A.String) -> Ev:
        v = e.value
        return lambda f: v

    def e_Vararg(self, e: A.Node) -> Ev:
        def vararg1(f: list[Any]) -> Any:
            va = f[1]
            return va[0] if va else None
        return vararg1

    def e_Paren(self, e: A.Paren) -> Ev:
        return self.expr(e.e)

    def e_Function(self, e: A.Function) -> Ev:
        return self.function(e)

    def e_Name(self, e: A.Name) -> Ev:
        rt = self.rt
        kind, ref = self.res.names[id(e)]
        if kind == "local":
            slot = ref.slot
            if ref.captured:
                return lambda f: f[slot].v
            return lambda f: f[slot]
        if kind == "upval":
            idx = ref
            return lambda f: f[0][idx].v
        key = ref.encode()
        G = rt.G
        h = G.hash
        line = e.line

        def global_(f: list[Any]) -> Any:
            v = h.get(key)
            if v is None and G.meta is not None:
                return R.index(rt, G, key, line)
            return v
        return global_

    def e_Index(self, e: A.Index) -> Ev:
        rt = self.rt
        eo = self.expr(e.obj)
        desc = self.desc(e.obj)
        line = e.line
        if type(e.key) is A.String:
            ck = e.key.value

            def field(f: list[Any]) -> Any:
                o = eo(f)
                if type(o) is LuaTable:
                    v = o.hash.get(ck)
                    if v is not None or o.meta is None:
                        return v
                return R.index(rt, o, ck, line, desc)
            return field
        ek = self.expr(e.key)
        so = self.local_slot(e.obj)
        sk = self.local_slot(e.key)
        if so is not None and sk is not None:
            def index_ll(f: list[Any]) -> Any:
                o = f[so]
                k = f[sk]
                if type(o) is LuaTable:
                    v = o.get(k)
                    if v is not None or o.meta is None:
                        return v
                return R.index(rt, o, k, line, desc)
            return index_ll

        def index(f: list[Any]) -> Any:
            o = eo(f)
            k = ek(f)
            if type(o) is LuaTable:
                v = o.get(k)
                if v is not None or o.meta is None:
                    return v
            return R.index(rt, o, k, line, desc)
        return index

    def args(self, args: list[A.Node]) -> Evm:
        return self.explist(args, None)

    def call(self, e: A.Call) -> Evm:
        rt = self.rt
        efn = self.expr(e.fn)
        desc = self.desc(e.fn)
        line = e.line
        args = e.args
        if not args:
            def call0(f: list[Any]) -> list[Any]:
                fn = efn(f)
                if callable(fn):
                    rt.line = line
                    return fn()
                return R.call(rt, fn, (), line, desc)
            return call0
        if len(args) == 1 and not _is_multi(args[0]):
            a1 = self.expr(args[0])

            def call1(f: list[Any]) -> list[Any]:
                fn = efn(f)
                x = a1(f)
                if callable(fn):
                    rt.line = line
                    return fn(x)
                return R.call(rt, fn, (x,), line, desc)
            return call1
        if len(args) == 2 and not _is_multi(args[1]):
            a1, a2 = self.expr(args[0]), self.expr(args[1])

            def call2(f: list[Any]) -> list[Any]:
                fn = efn(f)
                x = a1(f)
                y = a2(f)
                if callable(fn):
                    rt.line = line
                    return fn(x, y)
                return R.call(rt, fn, (x, y), line, desc)
            return call2
        eargs = self.args(args)

        def call_n(f: list[Any]) -> list[Any]:
            fn = efn(f)
            xs = eargs(f)
            if callable(fn):
                rt.line = line
                return fn(*xs)
            return R.call(rt, fn, xs, line, desc)
        return call_n

    def method(self, e: A.Method) -> Evm:
        rt = self.rt
        eo = self.expr(e.obj)
        odesc = self.desc(e.obj)
        key = e.name.encode()
        desc = f"method '{e.name}'"
        line = e.line
        eargs = self.args(e.args)
        strlib = rt.strlib

        def method_call(f: list[Any]) -> list[Any]:
            o = eo(f)
            if type(o) is LuaTable and o.meta is None:
                fn = o.hash.get(key)
            elif type(o) is bytes:
                fn = strlib.hash.get(key)
            else:
                fn = R.index(rt, o, key, line, odesc)
            xs = eargs(f)
            if callable(fn):
                rt.line = line
                return fn(o, *xs)
            return R.call(rt, fn, [o, *xs], line, desc)
        return method_call

    def e_Call(self, e: A.Call) -> Ev:
        c = self.call(e)

        def call_first(f: list[Any]) -> Any:
            r = c(f)
            return r[0] if r else None
        return call_first

    def e_Method(self, e: A.Method) -> Ev:
        c = self.method(e)

        def method_first(f: list[Any]) -> Any:
            r = c(f)
            return r[0] if r else None
        return method_first

    def e_Table(self, e: A.Table) -> Ev:
        rt = self.rt
        items = e.items
        positional = [v for kind, _, v in items if kind == "pos"]
        keyed = [(self.expr(k), self.expr(v)) for kind, k, v in items if kind == "key"]
        pos = self.explist(positional, None) if positional else None
        line = e.line
        if pos is None and not keyed:
            return lambda f: LuaTable()
        # The size hints Lua's compiler gives OP_NEWTABLE (they decide where keys land in
        # the table, so the order pairs() sees): the fields, and the positional values
        # except a trailing call or `...`, each rounded as a "floating point byte".
        counted = len(positional)
        if positional and isinstance(positional[-1], A.Call | A.Method | A.Vararg):
            counted -= 1
        array_hint = fb2int(int2fb(counted))
        hash_hint = fb2int(int2fb(len(keyed)))

        def table(f: list[Any]) -> LuaTable:
            t = LuaTable()
            for ek, ev in keyed:
                k = ek(f)
                if k is None:
                    raise rt.error("table index is nil", line)
                v = ev(f)  # (its own errors pass as they are)
                try:
                    t.set(k, v)
                except LuaError as exc:  # the key refused (NaN): positioned here
                    raise rt.error(exc.value, line) from None
            stored = 0
            if pos is not None:
                vals = pos(f)
                stored = len(vals)
                if not keyed:
                    arr = list(vals)
                    while arr and arr[-1] is None:
                        arr.pop()
                    t.arr = arr
                    if None in arr:
                        t.sparse = True
                else:
                    for i, v in enumerate(vals):
                        t.set(float(i + 1), v)
            t.hint = (array_hint, hash_hint, stored)
            return t
        return table

    def e_UnOp(self, e: A.UnOp) -> Ev:
        rt = self.rt
        ea = self.expr(e.a)
        desc = self.desc(e.a)
        line = e.line
        op = e.op
        if op == "not":
            def not_(f: list[Any]) -> bool:
                v = ea(f)
                return v is None or v is False
            return not_
        if op == "-":
            def neg(f: list[Any]) -> Any:
                v = ea(f)
                if type(v) is float:
                    return -v
                return R.unm(rt, v, line, desc)
            return neg

        def len_(f: list[Any]) -> Any:
            v = ea(f)
            if type(v) is bytes:
                return float(len(v))
            if type(v) is LuaTable:
                return float(v.length())
            return R.length(rt, v, line, desc)
        return len_

    def e_BinOp(self, e: A.BinOp) -> Ev:
        rt = self.rt
        op = e.op
        line = e.line
        if op == "and":
            ea, eb = self.expr(e.a), self.expr(e.b)

            def and_(f: list[Any]) -> Any:
                v = ea(f)
                if v is None or v is False:
                    return v
                return eb(f)
            return and_
        if op == "or":
            ea, eb = self.expr(e.a), self.expr(e.b)

            def or_(f: list[Any]) -> Any:
                v = ea(f)
                if v is None or v is False:
                    return eb(f)
                return v
            return or_
        if op == "..":
            return self.concat(e)
        ea, eb = self.expr(e.a), self.expr(e.b)
        da, db = self.desc(e.a), self.desc(e.b)
        if op in ("==", "~="):
            negate = op == "~="
            if type(e.b) in (A.String, A.Nil, A.TrueE, A.FalseE):
                c = None if type(e.b) is A.Nil else (
                    True if type(e.b) is A.TrueE else (
                        False if type(e.b) is A.FalseE else e.b.value))  # type: ignore[attr-defined]
                if c is None or type(c) is bool:
                    if negate:
                        return lambda f: ea(f) is not c
                    return lambda f: ea(f) is c
                if negate:
                    return lambda f: ea(f) != c
                return lambda f: ea(f) == c

            def eq(f: list[Any]) -> bool:
                a = ea(f)
                b = eb(f)
                ta = type(a)
                if ta is float or ta is bytes:
                    r = ta is type(b) and a == b
                else:
                    r = R.eq(rt, a, b)
                return not r if negate else r
            return eq
        if op in ("<", ">", "<=", ">="):
            if op in (">", ">="):
                ea, eb = eb, ea  # a > b is b < a (Lua evaluates a first: keep order below)
                swapped = True
            else:
                swapped = False
            slow = R.lt if op in ("<", ">") else R.le
            strict = op in ("<", ">")
            fast_cmp = self.compare_fast(op, e, slow, line)
            if fast_cmp is not None:
                return fast_cmp
            first_, second = (eb, ea) if swapped else (ea, eb)

            if strict:
                def less(f: list[Any]) -> bool:
                    x = first_(f)
                    y = second(f)
                    a, b = (y, x) if swapped else (x, y)
                    ta = type(a)
                    if ta is type(b) and (ta is float or ta is bytes):
                        return bool(a < b)
                    return slow(rt, a, b, line)
                return less

            def less_eq(f: list[Any]) -> bool:
                x = first_(f)
                y = second(f)
                a, b = (y, x) if swapped else (x, y)
                ta = type(a)
                if ta is type(b) and (ta is float or ta is bytes):
                    return bool(a <= b)
                return slow(rt, a, b, line)
            return less_eq
        self._cur_a_slot = self.local_slot(e.a)
        return self.arith(op, ea, eb, da, db, line, e.b)

    def compare_fast(self, op: str, e: A.BinOp, slow: Any, line: int) -> Ev | None:
        """a < b and friends where a is a plain local and b a number or a plain local."""
        rt = self.rt
        sa = self.local_slot(e.a)
        if sa is None:
            return None
        sb = self.local_slot(e.b)
        if type(e.b) is A.Number:
            c = e.b.value
            py = {"<": float.__lt__, "<=": float.__le__, ">": float.__gt__,
                  ">=": float.__ge__}[op]

            def cmp_lc(f: list[Any]) -> bool:
                a = f[sa]
                if type(a) is float:
                    return py(a, c)
                if op in ("<", "<="):
                    return slow(rt, a, c, line)
                return slow(rt, c, a, line)
            return cmp_lc
        if sb is not None:
            swapped = op in (">", ">=")
            strict = op in ("<", ">")

            def cmp_ll(f: list[Any]) -> bool:
                a = f[sa]
                b = f[sb]
                if swapped:
                    a, b = b, a
                ta = type(a)
                if ta is type(b) and (ta is float or ta is bytes):
                    return bool(a < b) if strict else bool(a <= b)
                return slow(rt, a, b, line)
            return cmp_ll
        return None

    def arith(self, op: str, ea: Ev, eb: Ev, da: str | None, db: str | None, line: int,
              b_node: A.Node) -> Ev:
        rt = self.rt
        slow = R.arith
        sa = self._cur_a_slot
        sb = self.local_slot(b_node)
        if sa is not None and op in ("+", "-", "*"):
            fast = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__}[op]
            if type(b_node) is A.Number:
                c = b_node.value
                if op == "+":
                    def add_lc(f: list[Any]) -> Any:
                        a = f[sa]
                        if type(a) is float:
                            return a + c
                        return slow(rt, op, a, c, line, da, db)
                    return add_lc
                if op == "-":
                    def sub_lc(f: list[Any]) -> Any:
                        a = f[sa]
                        if type(a) is float:
                            return a - c
                        return slow(rt, op, a, c, line, da, db)
                    return sub_lc
            if sb is not None:
                if op == "+":
                    def add_ll(f: list[Any]) -> Any:
                        a = f[sa]
                        b = f[sb]
                        if type(a) is float and type(b) is float:
                            return a + b
                        return slow(rt, op, a, b, line, da, db)
                    return add_ll

                def arith_ll(f: list[Any]) -> Any:
                    a = f[sa]
                    b = f[sb]
                    if type(a) is float and type(b) is float:
                        return fast(a, b)
                    return slow(rt, op, a, b, line, da, db)
                return arith_ll
        if type(b_node) is A.Number and op in ("+", "-", "*"):
            c = b_node.value
            if op == "+":
                def add_c(f: list[Any]) -> Any:
                    a = ea(f)
                    if type(a) is float:
                        return a + c
                    return slow(rt, op, a, c, line, da, db)
                return add_c
            if op == "-":
                def sub_c(f: list[Any]) -> Any:
                    a = ea(f)
                    if type(a) is float:
                        return a - c
                    return slow(rt, op, a, c, line, da, db)
                return sub_c

            def mul_c(f: list[Any]) -> Any:
                a = ea(f)
                if type(a) is float:
                    return a * c
                return slow(rt, op, a, c, line, da, db)
            return mul_c
        if op == "+":
            def add(f: list[Any]) -> Any:
                a = ea(f)
                b = eb(f)
                if type(a) is float and type(b) is float:
                    return a + b
                return slow(rt, op, a, b, line, da, db)
            return add
        if op == "-":
            def sub(f: list[Any]) -> Any:
                a = ea(f)
                b = eb(f)
                if type(a) is float and type(b) is float:
                    return a - b
                return slow(rt, op, a, b, line, da, db)
            return sub
        if op == "*":
            def mul(f: list[Any]) -> Any:
                a = ea(f)
                b = eb(f)
                if type(a) is float and type(b) is float:
                    return a * b
                return slow(rt, op, a, b, line, da, db)
            return mul
        raw = R.raw_arith

        def arith_op(f: list[Any]) -> Any:
            a = ea(f)
            b = eb(f)
            if type(a) is float and type(b) is float:
                return raw(op, a, b)
            return slow(rt, op, a, b, line, da, db)
        return arith_op

    def concat(self, e: A.BinOp) -> Ev:
        rt = self.rt
        parts: list[A.Node] = []
        node: A.Node = e
        while type(node) is A.BinOp and node.op == "..":
            parts.append(node.a)
            node = node.b
        parts.append(node)
        evs = [self.expr(p) for p in parts]
        descs = [self.desc(p) for p in parts]
        line = e.line
        if len(evs) == 2:
            ea, eb = evs
            da, db = descs

            def concat2(f: list[Any]) -> Any:
                a = ea(f)
                b = eb(f)
                if type(a) is bytes:
                    if type(b) is bytes:
                        return a + b
                    if type(b) is float:
                        return a + fmt_number(b)
                return R.concat2(rt, a, b, line, da, db)
            return concat2

        def concat_n(f: list[Any]) -> Any:
            vals = [ev(f) for ev in evs]
            out = []
            for v in vals:
                tv = type(v)
                if tv is bytes:
                    out.append(v)
                elif tv is float:
                    out.append(fmt_number(v))
                else:
                    return R.concat_many(rt, vals, line, descs)
            return b"".join(out)
        return concat_n


def compile_chunk(rt: Runtime, fn: A.Function) -> Callable[..., list[Any]]:
    res = Resolver()
    res.function(fn)
    return Compiler(rt, res).chunk(fn)
