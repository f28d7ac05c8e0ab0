"""The configuration object on its own: parsing and rendering of each parameter shape,
the refusals, the config file and CONFIG REWRITE round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from aikv.config import BY_NAME, PARAMETERS, Config, ConfigError


def _set(name: str, text: str) -> str:
    config = Config()
    config.set(name, text)
    return config.render(name)


def test_every_parameter_renders_its_default_and_takes_it_back() -> None:
    config = Config()
    for param in PARAMETERS:
        # Partial updates, and "no master" which reads back as "" but is set as "no one".
        if param.kind in ("obuf", "replicaof"):
            continue
        text = config.render(param.name)
        again = Config()
        again.set(param.name, text, startup=True)
        assert again.values[param.name] == param.default, param.name


def test_names_and_aliases_are_unique() -> None:
    names = [n for p in PARAMETERS for n in (p.name, *p.aliases)]
    assert len(names) == len(set(names)) == len(BY_NAME)


def test_booleans_take_yes_and_no_only() -> None:
    assert _set("activerehashing", "NO") == "no"
    for text in ("1", "true", "0", ""):
        with pytest.raises(ConfigError, match="argument must be 'yes' or 'no'"):
            _set("activerehashing", text)


def test_shutdown_flags() -> None:
    assert _set("shutdown-on-sigterm", "now SAVE") == "save now"
    assert _set("shutdown-on-sigterm", "default save") == "save"
    assert _set("shutdown-on-sigterm", "force") == "force"
    assert _set("shutdown-on-sigterm", "default") == "default"
    with pytest.raises(ConfigError, match="SAVE and NOSAVE"):
        _set("shutdown-on-sigterm", "save nosave")
    for text in ("", "save  now", "later"):
        with pytest.raises(ConfigError, match="must be one of the following: default, save, "
                                              "nosave, now, force"):
            _set("shutdown-on-sigterm", text)


def test_memory_or_percent() -> None:
    assert _set("maxmemory-clients", "10%") == "10%"
    assert _set("maxmemory-clients", "0%") == "0"
    assert _set("maxmemory-clients", "2kb") == "2048"
    with pytest.raises(ConfigError, match="less or equal to 100"):
        _set("maxmemory-clients", "101%")
    for text in ("-1%", "%", "x", "-5"):
        with pytest.raises(ConfigError, match="memory or percent value"):
            _set("maxmemory-clients", text)


def test_octal() -> None:
    config = Config()
    config.set("unixsocketperm", "750", startup=True)
    assert config.values["unixsocketperm"] == 0o750
    assert config.render("unixsocketperm") == "750"
    with pytest.raises(ConfigError, match="parsed as an octal number"):
        config.set("unixsocketperm", "789", startup=True)
    with pytest.raises(ConfigError, match="between 0 and 777 inclusive"):
        config.set("unixsocketperm", "1000", startup=True)


def test_oom_values_and_percentiles() -> None:
    assert _set("oom-score-adj-values", "-1 +2 3") == "-1 2 3"
    assert _set("oom-score-adj-values", "1  2") == "1 0 2"  # strtoll reads "" as 0
    with pytest.raises(ConfigError, match="wrong number of arguments"):
        _set("oom-score-adj-values", "1 2")
    with pytest.raises(ConfigError, match="between -2000 and 2000"):
        _set("oom-score-adj-values", "1 2 2001")
    assert _set("latency-tracking-info-percentiles", "50 99.90 100") == "50 99.9 100"
    assert _set("latency-tracking-info-percentiles", "0.0000001") == "0"
    assert _set("latency-tracking-info-percentiles", "") == ""
    with pytest.raises(ConfigError, match=r"should sit between \[0.0,100.0\]"):
        _set("latency-tracking-info-percentiles", "-1")
    with pytest.raises(ConfigError, match="Invalid latency-tracking-info-percentiles"):
        _set("latency-tracking-info-percentiles", "50 x")


def test_proc_title_template() -> None:
    assert _set("proc-title-template", "{title} {port}") == "{title} {port}"
    assert _set("proc-title-template", "{{") == "{{"
    for text in ("{nope}", "{", "{title", "", "  {server-mode} {title} "):
        with pytest.raises(ConfigError, match="template format is invalid"):
            _set("proc-title-template", text)


def test_file_names_and_hostnames() -> None:
    config = Config()
    config.set("dbfilename", "", startup=True)  # allowed empty, as in Redis
    with pytest.raises(ConfigError, match="dbfilename can't be a path, just a filename"):
        config.set("dbfilename", "a/b", startup=True)
    with pytest.raises(ConfigError, match="appenddirname can't be empty"):
        config.set("appenddirname", "", startup=True)
    with pytest.raises(ConfigError, match="just a dirname"):
        config.set("appenddirname", "a\\b", startup=True)
    with pytest.raises(ConfigError, match="only contain alphanumeric"):
        config.set("cluster-announce-hostname", "a_b")
    with pytest.raises(ConfigError, match="less than 256 characters"):
        config.set("cluster-announce-hostname", "a" * 256)


def test_replicaof() -> None:
    config = Config()
    config.set("replicaof", "no one", startup=True)
    assert config.render("slaveof") == ""
    with pytest.raises(ConfigError, match="wrong number of arguments"):
        config.set("replicaof", "host", startup=True)
    with pytest.raises(ConfigError, match="Invalid master port"):
        config.set("replicaof", "host 65536", startup=True)
    config.set("replicaof", "10.0.0.1 +6379", startup=True)
    assert config.render("replicaof") == "10.0.0.1 6379"
    with pytest.raises(ConfigError, match="can't set immutable config"):
        config.set("replicaof", "no one")


@pytest.mark.parametrize(("name", "value"), [
    ("tls-port", "6380"), ("activedefrag", "yes"),
])
def test_unsupported_values_are_refused(name: str, value: str) -> None:
    config = Config()
    with pytest.raises(ConfigError):
        config.set(name, value, startup=True)
    assert config.values[name] == BY_NAME[name].default
    config.set(name, config.render(name), startup=True)  # the default itself is fine


def test_hidden_parameters_are_not_listed_by_patterns() -> None:
    names = {name for name, _ in Config().matching("*")}
    assert "watchdog-period" not in names and "key-load-delay" not in names
    assert "lua-time-limit" in names and "busy-reply-threshold" in names


def test_rewrite_round_trips_the_special_shapes(tmp_path: Path) -> None:
    path = tmp_path / "aikv.conf"
    path.write_text("# mine\nport 7000\n")
    config = Config()
    config.load_file(str(path))
    changes = {"shutdown-on-sigterm": "save now", "oom-score-adj-values": "1 2 3",
               "latency-tracking-info-percentiles": "50 99.5", "maxmemory-clients": "5%",
               "proc-title-template": "{title} {port}", "min-replicas-to-write": "2"}
    for name, value in changes.items():
        config.set(name, value)
    config.rewrite()
    again = Config()
    again.load_file(str(path))
    for name, value in changes.items():
        assert again.render(name) == value, name
    assert path.read_text().startswith("# mine\nport 7000\n")


def test_rewrite_drops_replicaof_of_a_master(tmp_path: Path) -> None:
    """A node no longer a replica has no `replicaof` line after a rewrite (Redis drops
    it; `replicaof ""` would not load), forced or not."""
    path = tmp_path / "aikv.conf"
    path.write_text("replicaof 127.0.0.1 7001\nhz 11\n")
    config = Config()
    config.load_file(str(path))
    config.values["replicaof"] = ""  # REPLICAOF NO ONE
    config.rewrite()
    # As redis-server leaves it: the dropped line empty, the file's last newline kept.
    assert path.read_text() == "\nhz 11\n\n"
    config.rewrite(force_all=True)
    again = Config()
    again.load_file(str(path))
    assert again.values["replicaof"] == "" and again.values["hz"] == 11
    assert "replicaof" not in path.read_text()


def _from_command_line(*argv: str, stdin: str = "") -> Config:
    import io

    from aikv.cli import load_command_line

    config = Config()
    load_command_line(config, list(argv), io.StringIO(stdin))
    return config


def test_redis_style_command_line() -> None:
    from aikv.cli import option_lines

    argv = ["--port", "7000", "--save", "", "--maxmemory-policy", "allkeys-lru",
            "--shutdown-on-sigterm", "save", "now", "--slowlog-log-slower-than", "-1",
            "--lua-time-limit", "10", "--set", "hz=20"]
    # The text redis-server 7.0 makes of it: a line per option, values quoted.
    assert option_lines(argv) == ('port "7000" \nsave "" \nmaxmemory-policy "allkeys-lru" '
                                  '\nshutdown-on-sigterm "save" "now" \n'
                                  'slowlog-log-slower-than "-1" \nlua-time-limit "10" \n'
                                  'set "hz=20" ', False)
    config = _from_command_line(*argv)
    assert config.values["port"] == 7000 and config.render("save") == ""
    assert config.render("maxmemory-policy") == "allkeys-lru"
    assert config.render("shutdown-on-sigterm") == "save now"
    assert config.values["slowlog-log-slower-than"] == -1 and config.hz == 20


def test_redis_style_command_line_edge_forms() -> None:
    """introspection.tcl's "redis-server command line arguments" cases: the forms
    redis-server 7.0 reads."""
    # Name and value in one argument, quotes honoured.
    config = _from_command_line("--maxmemory 700mb", "--maxmemory-policy 'volatile-lru'")
    assert config.render("maxmemory") == "734003200"
    assert config.render("maxmemory-policy") == "volatile-lru"
    # Bare words after the config file, before any option: a line of their own.
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".conf") as conf:
        conf.write("port 7001\n")
        conf.flush()
        config = _from_command_line(conf.name, "hz", "15", "--maxmemory '700mb'")
        assert config.values["port"] == 7001 and config.hz == 15
        assert config.config_file == conf.name
    # A value may start with "--" (the word right after a bare directive)...
    config = _from_command_line("--proc-title-template", "--my--title", "--loglevel",
                                "verbose")
    assert config.render("proc-title-template") == "--my--title"
    assert config.loglevel == "verbose"
    assert _from_command_line("--proc-title-template --my--title").render(
        "proc-title-template") == "--my--title"
    # ... except after --save, which then means no save points, as at the end.
    config = _from_command_line("--save", "--hz", "12", "--save")
    assert config.render("save") == "" and config.hz == 12
    config = _from_command_line("--proc-title-template", "--save", "--save", "", "--hz", "3")
    assert config.render("proc-title-template") == "--save"
    assert config.render("save") == "" and config.hz == 3
    # `-` first or last reads standard input, before the options.
    config = _from_command_line("-", "--hz", "7", stdin="hz 5\nmaxmemory 1mb\n")
    assert config.hz == 7 and config.render("maxmemory") == "1048576"


@pytest.mark.parametrize("argv, stdin, line_number, line, message", [
    (["--port", "abc"], "", 2, 'port "abc"', "argument couldn't be parsed into an integer"),
    (["--nosuch", "1"], "", 2, 'nosuch "1"', "Bad directive or wrong number of arguments"),
    (["--port", "1", "2"], "", 2, 'port "1" "2"', "wrong number of arguments"),
    (["--hz", "5", "--maxmemory", "x"], "", 3, 'maxmemory "x"',
     "argument must be a memory value"),
    (["-"], "hz 5\n'unbalanced\n", 2, "'unbalanced", "Unbalanced quotes in configuration line"),
])
def test_command_line_errors_name_the_line(argv: list[str], stdin: str, line_number: int,
                                           line: str, message: str) -> None:
    """Line numbers as redis-server counts them: the options follow the file (none
    here: an empty first line) and standard input."""
    from aikv.config import ConfigLineError, fatal_text

    with pytest.raises(ConfigLineError) as caught:
        _from_command_line(*argv, stdin=stdin)
    assert (caught.value.line_number, caught.value.line, str(caught.value)) == (
        line_number, line, message)
    assert fatal_text(caught.value, "AiKv 0.1.0") == (
        f"\n*** FATAL CONFIG FILE ERROR (AiKv 0.1.0) ***\nReading the configuration file, "
        f"at line {line_number}\n>>> '{line}'\n{message}")


def test_include_and_deprecated_directives(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text("hz 11\n")
    (tmp_path / "conf.d" / "b.conf").write_text("maxmemory 2mb\n")
    main = tmp_path / "main.conf"
    main.write_text(f"include {tmp_path}/conf.d/*.conf\ninclude {tmp_path}/none/*.conf\n"
                    "list-max-ziplist-entries 512\nport 7002\n")
    config = Config()
    config.load_file(str(main))
    assert config.hz == 11 and config.render("maxmemory") == "2097152"
    assert config.values["port"] == 7002 and config.config_file == str(main)
    from aikv.config import ConfigFileMissing

    main.write_text(f"include {tmp_path}/missing.conf\n")
    with pytest.raises(ConfigFileMissing, match="can't open config file"):
        Config().load_file(str(main))


def test_the_server_takes_redis_style_arguments(tmp_path: Path) -> None:
    import subprocess
    import sys

    # An unknown directive is refused as redis-server refuses it; a known one reaches
    # the configuration (checked by its refusal of a bad value).
    done = subprocess.run([sys.executable, "-m", "aikv.cli", "--dir", str(tmp_path),
                           "--maxmemory-samples", "0"], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 1
    assert "argument must be between 1 and 2147483647 inclusive" in done.stderr


def test_parameters_fixed_here_accept_their_current_value() -> None:
    """appendonly: CONFIG SET in Redis, fixed in AiKv. Setting the value it has is
    accepted (Redis's test suites set appendonly yes); no is accepted and changes
    nothing (as at start-up); an lmdb-* value other than its own is refused. port and
    bind are settable (the server rebinds, see test_config_set_port_and_bind)."""
    config = Config()
    config.set("port", "7000", startup=True)
    config.set("appendonly", "yes")
    config.set("port", "7001")
    config.set("bind", "127.0.0.1 -::1")
    config.set("appendonly", "no")
    assert config.values["appendonly"] is True
    with pytest.raises(ConfigError, match="can't set immutable config"):
        config.set("lmdb-writemap", "no" if config.values["lmdb-writemap"] else "yes")
    with pytest.raises(ConfigError, match="can't set immutable config"):
        config.set("appenddirname", "elsewhere")  # immutable in Redis too
    assert config.values["appendonly"] is True and config.values["port"] == 7001


def test_appendonly_no_at_startup_is_noted_and_ignored() -> None:
    """AiKv always persists: `appendonly no` in a redis.conf (or Redis's test suites'
    default.conf) leaves the setting yes, with a notice the server logs at start."""
    config = Config()
    config.set("appendonly", "no", startup=True)
    assert config.values["appendonly"] is True
    assert config.render("appendonly") == "yes"
    assert any("appendonly no is ignored" in notice for notice in config.notices)
    config.set("appendonly", "yes")  # what it is: accepted at run time


def test_storage_parameters_accept_their_current_value_only() -> None:
    config = Config()
    for name in ("lmdb-initial-map-size", "lmdb-writemap", "lmdb-tick-log",
                 "lmdb-tick-log-checkpoint-ms"):
        config.set(name, config.render(name))
    with pytest.raises(ConfigError, match="can't set immutable config"):
        config.set("lmdb-writemap", "yes" if config.render("lmdb-writemap") == "no" else "no")
