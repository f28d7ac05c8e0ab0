"""Lua 5.1 scripting for EVAL and FUNCTION: a pure-Python Lua interpreter and the redis.* bridge.

Modules, in the order a script travels: `lexer` (tokens), `parser` (AST, `ast`),
`compiler` (AST -> Python closures), `values` (tables, errors, coercions), `lpattern`
(Lua patterns), `stdlib` (base/string/table/math), `extlibs` (bit, cjson), `bridge`
(redis.*, Lua <-> RESP), `engine` (script cache and runs), `functions` (FUNCTION
libraries, in a Lua state of their own).
"""
