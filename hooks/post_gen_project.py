"""Finish the generated project: drop unused files, write .env, check that Redis answers.

Cookiecutter renders this file with Jinja and runs it inside the new project directory. A non-zero
exit makes generation fail and cookiecutter removes the project directory.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import BinaryIO

REDIS_TIMEOUT = 1.0
# Written into .env with random values (URL-safe: no quoting needed in .env, compose or a URL).
GENERATED_SECRETS = ("REDIS_PASSWORD", "DASHBOARD_PASSWORD")
SECRET_BYTES = 32


class RedisCheckFailed(Exception):
    """Redis did not answer as expected; the message says what failed and what to do."""


def rendered_answers() -> dict[str, object]:
    """The answers cookiecutter rendered into this file (JSON, so any answer text survives)."""
    return json.loads(r"""{{ cookiecutter | tojson }}""")


def remove_scheduler_files(project: Path, names: list[str]) -> None:
    """Delete the scheduler process, what only it uses, and their tests (include_scheduler == "no").

    ``names`` is ``_scheduler_files`` in cookiecutter.json, the one list the tests read too.
    """
    for name in names:
        (project / name).unlink(missing_ok=True)


def write_local_env(project: Path) -> None:
    """Copy .env.example to .env (unless a .env is already there), giving every secret in
    ``GENERATED_SECRETS`` that is empty there a fresh random value. Only .env holds them (it is
    in .gitignore and .dockerignore); the file is readable by its owner only."""
    example, env = project / ".env.example", project / ".env"
    if not example.is_file() or env.exists():
        return
    lines = []
    for line in example.read_text(encoding="utf-8").splitlines():
        name, equals, value = line.partition("=")
        if equals and name in GENERATED_SECRETS and not value:
            line = f"{name}={secrets.token_urlsafe(SECRET_BYTES)}"
        lines.append(line)
    env.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env.chmod(0o600)


def resp_command(*words: str) -> bytes:
    """Encode one command in RESP, the protocol Redis speaks."""
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def read_reply(stream: BinaryIO) -> str:
    """Read one simple, error, integer or bulk reply; raise RedisCheckFailed on an error reply."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise RedisCheckFailed("the server closed the connection (is this a Redis server?)")
    kind, body = line[:1], line[1:-2].decode(errors="replace")
    if kind in (b"+", b":"):
        return body
    if kind == b"-":
        raise RedisCheckFailed(f"server said {body}")
    if kind == b"$":
        size = int(body)
        return "" if size < 0 else stream.read(size + 2)[:-2].decode(errors="replace")
    raise RedisCheckFailed(f"unexpected reply {line[:40]!r} (is this a Redis server?)")


def redis_version(host: str, port: int, username: str, password: str) -> str:
    """AUTH (when a password is given), PING and return ``redis_version`` from INFO server."""
    try:
        with socket.create_connection((host, port), timeout=REDIS_TIMEOUT) as connection:
            stream = connection.makefile("rb")
            if password:
                connection.sendall(
                    resp_command("AUTH", *([username] if username else []), password)
                )
                try:
                    read_reply(stream)
                except RedisCheckFailed as error:
                    raise RedisCheckFailed(f"authentication failed: {error}") from None
            connection.sendall(resp_command("PING"))
            try:
                read_reply(stream)
            except RedisCheckFailed as error:
                if "NOAUTH" in str(error):
                    raise RedisCheckFailed(f"authentication failed: {error}") from None
                raise
            connection.sendall(resp_command("INFO", "server"))
            info = read_reply(stream)
    except ConnectionRefusedError:
        raise RedisCheckFailed("connection refused") from None
    except TimeoutError:
        raise RedisCheckFailed(f"timed out after {REDIS_TIMEOUT:g} s") from None
    except socket.gaierror as error:
        raise RedisCheckFailed(f"cannot resolve host ({error.strerror})") from None
    except OSError as error:
        raise RedisCheckFailed(f"connection failed ({error.strerror or error})") from None
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.partition(":")[2].strip()
    return "unknown version"


def advice(reason: str, port: int) -> str:
    """What to do about a failed check."""
    if reason.startswith("authentication failed"):
        return "Set REDIS_PASSWORD (and REDIS_USERNAME for an ACL user) in the environment."
    return (
        f"Start Redis, e.g. `redis-server --port {port}` (then empty REDIS_PASSWORD in .env), or"
        " the project's own: `docker compose -f compose.yaml -f compose.local.yaml up -d redis`."
    )


def check_redis(mode: str, host: str, port: int) -> None:
    """Per redis_check: skip, report if Redis answers (warn), or exit 1 without it (require)."""
    if mode == "skip":
        return
    try:
        version = redis_version(
            host, port, os.environ.get("REDIS_USERNAME", ""), os.environ.get("REDIS_PASSWORD", "")
        )
    except RedisCheckFailed as error:
        message = f"Redis check at {host}:{port} failed: {error}. {advice(str(error), port)}"
        if mode == "require":
            stop = "Generation stopped (redis_check=require; redis_check=warn generates anyway)."
            print(f"ERROR: {message} {stop}", file=sys.stderr)
            sys.exit(1)
        print(f"WARNING: {message} The project was generated anyway.", file=sys.stderr)
        return
    print(f"✓ Redis reachable at {host}:{port} (Redis {version})")


def main() -> None:
    answers = rendered_answers()
    project = Path.cwd()
    if answers["include_scheduler"] == "no":
        remove_scheduler_files(project, list(answers["_scheduler_files"]))
    write_local_env(project)
    check_redis(str(answers["redis_check"]), str(answers["redis_host"]), int(answers["redis_port"]))


if __name__ == "__main__":
    main()
