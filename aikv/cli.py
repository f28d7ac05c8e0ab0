"""`aikv-server`: start one node.

Options use Redis's directive names; an optional positional config file in redis.conf
syntax is read first and the flags override it. `--user <name> <rules...>` adds a user
as a config file's `user` line does; users are loaded before the data (_load_users).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import sys
from typing import TYPE_CHECKING

import click

from aikv import REDIS_VERSION, __version__, acl_file
from aikv.config import APPENDFSYNC_CHOICES, BY_NAME, LOGLEVEL_CHOICES, Config, ConfigError
from aikv.crash import apply_crash_log
from aikv.logging_setup import setup_logging
from aikv.persist.store import StoreLayoutError, StoreLockedError

if TYPE_CHECKING:
    from aikv.server import Server

log = logging.getLogger("aikv")


def _yes_no(value: str | None) -> str | None:
    return value


@click.command(name="aikv-server", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config_file", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--port", type=int, help="Client port (default 6379; 0 picks a free port).")
@click.option("--bind", help="Address to listen on (default 127.0.0.1).")
@click.option("--dir", "dir_", help="Data directory, created if missing (default ./data).")
@click.option("--appendfsync", type=click.Choice(APPENDFSYNC_CHOICES),
              help="always | everysec (default) | no")
@click.option("--requirepass", help="Password clients must AUTH with.")
@click.option("--loglevel", type=click.Choice(LOGLEVEL_CHOICES))
@click.option("--logfile", help="Log file (default: standard output).")
@click.option("--databases", type=int, help="Number of databases (default 16).")
@click.option("--maxclients", type=int)
@click.option("--cluster-enabled", type=click.Choice(["yes", "no"]))
@click.option("--cluster-config-file", help="nodes.conf name, relative to --dir.")
@click.option("--cluster-node-timeout", type=int, help="Milliseconds (default 15000).")
@click.option("--cluster-port", type=int, help="Bus port (default: port + 10000).")
@click.option("--cluster-announce-ip")
@click.option("--cluster-announce-port", type=int)
@click.option("--cluster-announce-bus-port", type=int)
@click.option("--cluster-announce-hostname")
@click.option("--cluster-require-full-coverage", type=click.Choice(["yes", "no"]))
@click.option("--protected-mode", type=click.Choice(["yes", "no"]))
@click.option("--set", "extra", multiple=True, metavar="NAME=VALUE",
              help="Any other directive, e.g. --set hz=20 (repeatable); redis-server's "
                   "form --hz 20 works too.")
@click.version_option(__version__, prog_name="aikv-server")
def server_command(config_file: str | None, extra: tuple[str, ...], **flags: object) -> None:
    """Run an AiKv node: a Redis-compatible server whose data lives in LMDB."""
    config = Config()
    try:
        if config_file:
            config.load_file(config_file)
        for name, value in flags.items():
            if value is None:
                continue
            directive = "dir" if name == "dir_" else name.replace("_", "-")
            config.set(directive, str(value), startup=True)
        for item in extra:
            name, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"--set expects NAME=VALUE, got {item!r}")
            if name.lower() == "user":  # --user <name> <rules...>, as in a config file
                words = shlex.split(value)
                if not words:
                    raise ConfigError("Bad directive or wrong number of arguments")
                config.add_user([w.encode() for w in words])
                continue
            config.set(name, value, startup=True)
        if config.values["cluster-enabled"] and config.values["replicaof"]:
            raise ConfigError("replicaof directive not allowed in cluster mode")
    except ConfigError as exc:
        click.echo(f"*** FATAL CONFIG FILE ERROR (AiKv {__version__}) ***\n{exc}", err=True)
        sys.exit(1)
    setup_logging(config.loglevel, in_dir(config, config.logfile))
    sys.exit(run(config))


def in_dir(config: Config, path: str) -> str:
    """A relative `logfile` or `pidfile` lives in `dir`, as in Redis, which opens them
    after its chdir into `dir` (created here if the log file is the first to need it)."""
    if not path or os.path.isabs(path):
        return path
    os.makedirs(str(config.dir), exist_ok=True)
    return os.path.join(str(config.dir), path)


def run(config: Config) -> int:
    from aikv.server import Server

    log.info("oO0OoO0OoO0Oo AiKv is starting oO0OoO0OoO0Oo")
    log.info("AiKv version=%s (Redis %s compatible), bits=64, pid=%d, just started",
             __version__, REDIS_VERSION, os.getpid())
    apply_crash_log(bool(config.values["crash-log-enabled"]))
    for notice in config.notices:
        log.warning("%s", notice)
    server = Server(config)
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
    if pidfile:
        try:
            with open(pidfile, "w") as f:
                f.write(f"{os.getpid()}\n")
        except OSError as exc:
            log.warning("Failed to write PID file: %s", exc)
    try:
        return _serve(server, config)
    finally:
        if pidfile:
            with contextlib.suppress(OSError):
                os.unlink(pidfile)


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
        await server.serve_until_stopped()

    try:
        uvloop.run(serve())
    except OSError as exc:
        log.warning("Fatal: could not start listening on %s:%s: %s", config.bind, config.port,
                    exc)
        server.store.close()
        return 1
    return 0


def redis_style_args(args: list[str], known: set[str]) -> list[str]:
    """redis-server's command line, read as redis-server 7.0 reads it, for every
    directive that has no option of its own here (rewritten as `--set directive=words
    joined by spaces`):
    - `--<directive> <value words...>` up to the next argument starting with `--`; the
      first word after a bare directive is its value even when it starts with `--`
      (`--proc-title-template --my-title`), except after `--save`, where it means no
      save points (as an empty or missing value does);
    - `"--<directive> value"` in one argument, split as a config line (quotes honoured);
    - bare words after the config file, before any `--`: a config line of their own
      (`loglevel verbose`).
    Options this command defines (each takes one value), and anything that is not a
    directive, pass through unchanged (click then judges them)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in known:
            out += args[i:i + (1 if arg in ("-h", "--help") else 2)]
            i += 1 if arg in ("-h", "--help") else 2
            continue
        inline = arg.startswith("--") and len(arg.split(None, 1)) > 1
        bare = not arg.startswith("-") and i > 0
        if inline:
            try:
                words = shlex.split(arg[2:])
            except ValueError:
                words = arg[2:].split()
        elif bare:
            words = [arg]
        else:
            words = [arg[2:]] if arg.startswith("--") else []
        name = words[0].lower() if words else ""
        if not name or "=" in name or (name not in BY_NAME and name != "user"):
            out.append(arg)
            i += 1
            continue
        i += 1
        if not inline:
            words = words[1:]
            if not bare and i < len(args) and not (name == "save"
                                                   and args[i].startswith("--")):
                words.append(args[i])
                i += 1
            while i < len(args) and not args[i].startswith("--"):
                words.append(args[i])
                i += 1
        else:
            words = words[1:]
        # A user's rules keep their words (a password may hold spaces).
        value = shlex.join(words) if name == "user" else " ".join(words)
        out += ["--set", f"{name}={value}"]
    return out


def main(args: list[str] | None = None) -> None:
    """The `aikv-server` entry point."""
    known = {opt for param in server_command.params for opt in getattr(param, "opts", ())}
    server_command.main(args=redis_style_args(sys.argv[1:] if args is None else args, known),
                        prog_name="aikv-server")


if __name__ == "__main__":
    main()
