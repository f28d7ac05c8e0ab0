"""`aikv-server`: start one node.

The command line is redis-server's (see load_command_line): an optional config file in
redis.conf syntax, then `--<directive> <value...>` options read after it, `-` for more
configuration on standard input, and errors reported by line as redis-server reports
them. `--user <name> <rules...>` adds a user as a config file's `user` line does; users
are loaded before the data (_load_users).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import TYPE_CHECKING, TextIO

import click

from aikv import REDIS_VERSION, __version__, acl_file
from aikv.config import Config, ConfigError, ConfigFileMissing, fatal_text, read_config_files
from aikv.crash import apply_crash_log
from aikv.listen import ListenError, NothingToListenOn
from aikv.logging_setup import setup_logging
from aikv.monitor import quote_arg
from aikv.persist.store import StoreLayoutError, StoreLockedError
from aikv.protocol import split_inline_args
from aikv.supervised import READY, READY_AS_REPLICA, Supervision

if TYPE_CHECKING:
    from aikv.server import Server

log = logging.getLogger("aikv")


_EPILOG = """\b
Examples:
  aikv-server                                   (data in ./data, port 6379)
  aikv-server --dir /var/lib/aikv --port 7000
  aikv-server /etc/aikv/aikv.conf --loglevel verbose
  aikv-server --cluster-enabled yes --cluster-node-timeout 5000 --port 7001
  aikv-server --save "900 1" --appendfsync always
  echo "maxmemory 1gb" | aikv-server -

\b
Directives used most (any redis.conf directive AiKv knows can be given):
  --port N              client port (default 6379; 0 picks a free port)
  --bind ADDR           address to listen on (default 127.0.0.1)
  --dir PATH            data directory, created if missing (default ./data)
  --appendfsync always|everysec|no
  --requirepass PASS    --loglevel debug|verbose|notice|warning   --logfile FILE
  --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout MS
  --user NAME RULES...  an ACL user, as a config file's `user` line
  --set NAME=VALUE      AiKv's other spelling of --NAME VALUE
"""


@click.command(name="aikv-server", epilog=_EPILOG, options_metavar="[-h | -v]", context_settings={
    "help_option_names": ["-h", "--help"], "ignore_unknown_options": True,
    "allow_extra_args": True, "max_content_width": 100})
@click.argument("args", nargs=-1, type=click.UNPROCESSED,
                metavar="[CONFIG_FILE] [--DIRECTIVE VALUE...] [-]")
@click.version_option(__version__, "-v", "--version", prog_name="aikv-server",
                      # redis-server -v's shape, which scripts parse for v=
                      message=f"AiKv server v=%(version)s sha=00000000:0 malloc=libc bits=64 "
                              f"build=0 (Redis {REDIS_VERSION} compatible)")
def server_command(args: tuple[str, ...]) -> None:
    """Run an AiKv node: a Redis-compatible server whose data lives in LMDB.

    ARGS are redis-server's: an optional config file in redis.conf syntax, then
    directives as --<name> <value...> (read after the file: the last one given wins),
    and `-` (first or last) to read more configuration from standard input.
    """
    config = Config()
    try:
        load_command_line(config, list(args), sys.stdin)
    except ConfigFileMissing as exc:
        # Logged, as redis-server logs it before its log is set up (role "C").
        now = time.time()
        click.echo(f"{os.getpid()}:C {time.strftime('%d %b %Y %H:%M:%S', time.localtime(now))}"
                   f".{int(now * 1000) % 1000:03d} # {exc}")
        sys.exit(1)
    except ConfigError as exc:
        click.echo(fatal_text(exc, f"AiKv {__version__}"), err=True)
        sys.exit(1)
    supervision = Supervision(config.values["supervised"])
    if config.values["daemonize"] and not supervision.systemd:  # (a supervisor keeps it)
        daemonize()
    setup_logging(config.loglevel, in_dir(config, config.logfile))
    supervision.start()
    sys.exit(run(config, supervision))


# Where a daemonized node writes its pid when `pidfile` does not say (Redis's is
# /var/run/redis.pid).
DEFAULT_PIDFILE = "/var/run/aikv.pid"


def daemonize() -> None:
    """`daemonize yes`, as redis-server does it: the command returns at once (its
    process exits 0), the node goes on in a child of its own session, and standard
    input and output go to /dev/null (with `logfile ""` nothing is logged then).
    Done before anything else starts: no thread, loop or open database to carry over."""
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def load_command_line(config: Config, argv: list[str], stdin: TextIO) -> None:
    """Configure from redis-server's command line (without the program name): the
    config file, standard input, then the options, as one text whose line numbers are
    the ones an error reports (Redis's loadServerConfig)."""
    config_file = None
    if argv and not argv[0].startswith("-"):
        config_file, argv = argv[0], argv[1:]
    options, from_stdin = option_lines(argv, first_is_argv1=config_file is None)
    text = read_config_files(config_file) if config_file else ""
    if config_file:
        config.config_file = os.path.abspath(config_file)
    if from_stdin:
        text += stdin.read()
    if options:
        text += "\n" + options
    config.load_text(text)
    logfile = config.values["logfile"]
    if logfile:  # refused now, as Redis refuses it, rather than failing to log later
        try:
            with open(in_dir(config, logfile), "a"):
                pass
        except OSError as exc:
            raise ConfigError(f"Can't open the log file: {exc.strerror}") from None
    if config.values["cluster-enabled"] and config.values["replicaof"]:
        raise ConfigError("replicaof directive not allowed in cluster mode")


def option_lines(args: list[str], first_is_argv1: bool = True) -> tuple[str, bool]:
    """The configuration text redis-server 7.0 makes of its options, and whether `-`
    asked for standard input: `--name` starts a line, every other argument is appended
    to it quoted (sdscatrepr), `"--name value"` in one argument is a whole line. The
    word right after a bare `--name` is its value even when it starts with `--`
    (`--proc-title-template --my-title`), except after `--save`, where it means no save
    points (as a missing value at the end does). `first_is_argv1`: args[0] is the first
    argument of all (no config file before it), where `-` may stand."""
    options = ""
    from_stdin = False
    last_handled = True
    n = len(args)
    for j, arg in enumerate(args):
        if arg == "-" and ((j == 0 and first_is_argv1) or j == n - 1):
            from_stdin = True
        elif last_handled and arg.startswith("--"):
            if options:
                options += "\n"
            options += arg[2:] + " "
            split = split_inline_args(arg.encode("utf-8", "surrogateescape"))
            if split is not None and len(split) == 1:
                last_handled = False
                before_option = j != n - 1 and args[j + 1].startswith("--")
                if arg.lower() == "--save" and (before_option or j == n - 1):
                    options += '""'
                    last_handled = before_option
                elif arg.lower() == "--sentinel" and before_option:
                    last_handled = True
            else:
                last_handled = True  # "--port 6380": name and value in one argument
        else:
            options += quote_arg(arg.encode("utf-8", "surrogateescape")).decode(
                "utf-8", "surrogateescape") + " "
            last_handled = True
    return options, from_stdin


def in_dir(config: Config, path: str) -> str:
    """A relative `logfile` or `pidfile` lives in `dir`, as in Redis, which opens them
    after its chdir into `dir` (created here if the log file is the first to need it)."""
    if not path or os.path.isabs(path):
        return path
    os.makedirs(str(config.dir), exist_ok=True)
    return os.path.join(str(config.dir), path)


def run(config: Config, supervision: Supervision | None = None) -> int:
    from aikv.server import Server

    log.info("oO0OoO0OoO0Oo AiKv is starting oO0OoO0OoO0Oo")
    log.info("AiKv version=%s (Redis %s compatible), bits=64, pid=%d, just started",
             __version__, REDIS_VERSION, os.getpid())
    apply_crash_log(bool(config.values["crash-log-enabled"]))
    for notice in config.notices:
        log.warning("%s", notice)
    server = Server(config)
    if supervision is not None:
        server.supervision = supervision
    if not _load_users(server, config):
        return 1
    try:
        took = server.open_storage()
    except (StoreLockedError, StoreLayoutError) as exc:
        log.warning("Fatal: %s. Exiting.", exc)
        return 1
    except OSError as exc:
        log.warning("Fatal: can't open the data directory %s: %s", config.dir, exc)
        return 1
    log.info("Data directory %s opened in %.3f seconds: %d keys in db 0",
             os.path.abspath(config.dir), took, server.databases[0].size())

    # Written once the directory's lock is ours (so a second server refused for the same
    # directory leaves the first one's file alone); a failure is only logged, as in Redis.
    pidfile = in_dir(config, config.values["pidfile"])
    if not pidfile and config.values["daemonize"]:
        pidfile = DEFAULT_PIDFILE  # (Redis: a background node always writes one)
    if pidfile:
        try:
            with open(pidfile, "w") as f:
                f.write(f"{os.getpid()}\n")
        except OSError as exc:
            log.warning("Failed to write PID file: %s", exc)
    try:
        code = _serve(server, config)
    finally:
        if pidfile:
            with contextlib.suppress(OSError):
                os.unlink(pidfile)
    if server.restart_delay_ms is not None:  # DEBUG RESTART, once everything is closed
        from aikv import restart

        restart.execute_self(server.restart_delay_ms)
    return code


def _load_users(server: Server, config: Config) -> bool:
    """ACLLoadUsersAtStartup: the `user` directives, or the ACL file, but not both; any
    error is logged and stops the startup (False)."""
    aclfile = config.values["aclfile"]
    if aclfile and config.users:
        log.warning(acl_file.BOTH_SOURCES)
        return False
    pubsub_all = config.values["acl-pubsub-default"] == "allchannels"
    try:
        acl_file.load_configured_users(config.users, server.acl_users, pubsub_all)
    except ValueError as exc:
        log.warning("%s", exc)
        log.warning("Critical error while loading ACLs. Exiting.")
        return False
    if aclfile:
        try:
            users = acl_file.load_acl_file(config)
        except acl_file.AclFileError as exc:
            log.warning("Aborting Redis startup because of ACL errors: %s", exc)
            return False
        default = server.acl_users[b"default"]
        default.copy_from(users[b"default"])
        users[b"default"] = default
        server.acl_users = users
    return True


def _serve(server: Server, config: Config) -> int:
    import uvloop

    async def serve() -> None:
        await server.start()
        mode = "cluster" if config.cluster_enabled else "standalone"
        log.info("Running mode=%s, port=%d.", mode, server.port)
        log.info("Ready to accept connections tcp")
        server.supervision.notify(READY_AS_REPLICA if config.values["replicaof"] else READY)
        server.supervision.notify("READY=1\n")
        await server.serve_until_stopped()

    try:
        uvloop.run(serve())
    except ListenError as exc:
        log.warning("Failed listening on port %d (%s), aborting.", exc.port, exc.kind)
        server.store.close()
        return 1
    except NothingToListenOn:
        log.warning("Configured to not listen anywhere, exiting.")
        server.store.close()
        return 1
    except OSError as exc:  # the Unix socket
        log.warning("Failed opening Unix socket: bind: %s",
                    os.strerror(exc.errno) if exc.errno else exc)
        server.store.close()
        return 1
    return 0


def main(args: list[str] | None = None) -> None:
    """The `aikv-server` entry point."""
    server_command.main(args=sys.argv[1:] if args is None else args, prog_name="aikv-server")


if __name__ == "__main__":
    main()
