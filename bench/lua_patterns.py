"""`python -m bench.lua_patterns`: Lua pattern matching speed, in-process (no server).

Runs a few string.find/match/gmatch/gsub workloads through the scripting engine
(`Engine.load` + `Engine.run`, as EVAL does) and prints the best CPU time (process_time) of several runs
for each. Set PYTHONPATH to the tree to measure; the scripts and sizes are fixed, so
two trees can be compared figure by figure.
"""

from __future__ import annotations

import argparse
import time

from aikv.scripting.engine import CallContext, Engine

# A 10 KB text of words, digits, spaces and commas, passed to each script as ARGV[1].
SUBJECT = "".join(f"word{i % 97}{', ' if i % 5 == 0 else ' '}" for i in range(1, 1201)).encode()
TEXT = "local s = ARGV[1] "

CASES: dict[str, str] = {
    "gsub %w+ -> <%0> (10 KB)": TEXT + "local r, n = string.gsub(s, '%w+', '<%0>') return n",
    "gsub ',' -> ';' (10 KB)": TEXT + "local r, n = string.gsub(s, ',', ';') return n",
    "gsub (%a+)(%d+) -> fn (10 KB)": TEXT + (
        "local r, n = string.gsub(s, '(%a+)(%d+)', function(a, d) return d .. a end) "
        "return n"),
    "find plain word x200": TEXT + (
        "local n = 0 for i = 1, 200 do if string.find(s, 'word96', 1, true) then "
        "n = n + 1 end end return n"),
    "find '%d%d,' x200": TEXT + (
        "local n = 0 for i = 1, 200 do if string.find(s, '%d%d,') then n = n + 1 end end "
        "return n"),
    "gmatch %a+ words (10 KB)": TEXT + (
        "local n = 0 for w in string.gmatch(s, '%a+') do n = n + 1 end return n"),
    "match trim x2000": (
        "local n = 0 for i = 1, 2000 do local t = string.match('   some text  ', "
        "'^%s*(.-)%s*$') n = n + #t end return n"),
    "match key=value x2000": (
        "local n = 0 for i = 1, 2000 do local k, v = string.match('user:1234=value:xyz', "
        "'^([%w:]+)=(.*)$') n = n + #k + #v end return n"),
    "gsub %b() (10 KB)": (
        "local s = string.rep('a(b(c)d)e ', 1000) local r, n = string.gsub(s, '%b()', '') "
        "return n"),
}


class _Ctx(CallContext):
    def execute(self, argv: list[bytes], raise_error: bool) -> object:  # pragma: no cover
        raise NotImplementedError


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.lua_patterns", description=__doc__)
    p.add_argument("--runs", type=int, default=10, help="runs per case; the best is shown")
    args = p.parse_args()
    engine = Engine()
    total = 0.0
    for name, src in CASES.items():
        script = engine.load(src.encode())
        best = float("inf")
        reply = b""
        for _ in range(args.runs):
            t0 = time.process_time()
            reply = engine.run(script, [], [SUBJECT], _Ctx(), False, 0)
            best = min(best, time.process_time() - t0)
        total += best
        print(f"{name:32s} {best * 1000:9.2f} ms   reply {reply.strip().decode()}")
    print(f"{'total':32s} {total * 1000:9.2f} ms")


if __name__ == "__main__":
    main()
