"""Finish the generated project: drop unused files, keep the matching dependency lock, write .env,
record the template for cruft, check that Redis answers.

Cookiecutter renders this file with Jinja and runs it inside the new project directory. A non-zero
exit makes generation fail and cookiecutter removes the project directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

REDIS_TIMEOUT = 1.0
# The project's REDIS_URL parser: standard library only, so this hook loads it by path.
REDIS_URL_MODULE = Path("app") / "queue" / "redis_url.py"
# Written into .env with random values (URL-safe: no quoting needed in .env, compose or a URL).
GENERATED_SECRETS = ("REDIS_PASSWORD", "DASHBOARD_PASSWORD")
SECRET_BYTES = 32
# The locks in the template's project root include the scheduler's `schedule`; this subdirectory of
# ``_lock_variants`` holds the same locks without it (the template's scripts/lock writes both).
WITHOUT_SCHEDULER = "without-scheduler"
CRUFT_FILE = ".cruft.json"
# cookiecutter's context keys that hold paths of this machine, not answers: not recorded.
MACHINE_KEYS = ("_output_dir", "_repo_dir", "_checkout")
# A template cookiecutter clones (its own test, after expanding gh:, gl:, bb:), not a local path.
REMOTE_TEMPLATE = re.compile(r"((git|hg)\+)?(git|ssh|file|https?):|\w+@[\w.]+|(gh|gl|bb):")


TLS_FILE_VARIABLES = ("REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE")


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


def keep_lock_variant(
    project: Path, lock_files: list[str], variants: str, include_scheduler: str
) -> None:
    """Keep the dependency locks (``_lock_files``) that match ``include_scheduler``, then delete the
    ``variants`` directory the other ones came in. Generation needs no network for this."""
    variants_dir = project / variants
    if include_scheduler == "no":
        for name in lock_files:
            variant = variants_dir / WITHOUT_SCHEDULER / name
            if variant.is_file():
                variant.replace(project / name)
    shutil.rmtree(variants_dir, ignore_errors=True)


def git(directory: Path, *arguments: str) -> str | None:
    """The stripped output of ``git -C directory ...``; None when git is missing or fails."""
    try:
        result = subprocess.run(
            ["git", "-C", str(directory), *arguments],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def template_checkout(answers: dict[str, object]) -> Path | None:
    """The directory cookiecutter rendered from (it holds cookiecutter.json), or None.

    cookiecutter keeps a local template path as typed, relative to where it was started, while
    this hook runs in the new project: a relative path is resolved against $PWD (the starting
    directory, which a subprocess inherits) and accepted only if cookiecutter.json is there.
    """
    repo_dir = Path(str(answers.get("_repo_dir") or ""))
    if not repo_dir.is_absolute():
        repo_dir = Path(os.environ.get("PWD", "")) / repo_dir
    return repo_dir.resolve() if (repo_dir / "cookiecutter.json").is_file() else None


def record_template(project: Path, answers: dict[str, object]) -> str:
    """Write .cruft.json (template, commit, answers) so that `cruft update` can bring the
    template's later changes; return one line saying what was done, or "".

    Nothing is written when cruft itself is generating (its context has ``_commit``; it writes the
    file), or when the template is not a git checkout without uncommitted changes: a commit that
    is not what was rendered would make every later update wrong.
    """
    if "_commit" in answers or (project / CRUFT_FILE).exists():
        return ""
    checkout = template_checkout(answers)
    top = git(checkout, "rev-parse", "--show-toplevel") if checkout else None
    commit = git(checkout, "rev-parse", "HEAD") if checkout else None
    if checkout is None or not top or not commit:
        return "NOTE: the template is not a git checkout, so no .cruft.json was written."
    if git(checkout, "status", "--porcelain") != "":
        return (
            f"NOTE: the template at {checkout} has uncommitted changes, so no .cruft.json was"
            " written; commit them, then `cruft link` this project to it."
        )
    root = Path(top).resolve()
    template = str(answers.get("_template", ""))
    if REMOTE_TEMPLATE.match(template):  # cookiecutter cloned it: the URL it cloned from
        template = git(checkout, "remote", "get-url", "origin") or template
    else:  # a local checkout: its path
        template = str(root)
    directory = checkout.relative_to(root).as_posix()
    context = {key: value for key, value in answers.items() if key not in MACHINE_KEYS}
    # The Redis check is a generation-time action, and cruft renders the template (hooks included)
    # again on every update: updates skip it.
    context.update(_template=template, _commit=commit, redis_check="skip")
    state = {
        "template": template,
        "commit": commit,
        "checkout": answers.get("_checkout"),
        "context": {"cookiecutter": context},
        "directory": None if directory == "." else directory,
    }
    (project / CRUFT_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    return (
        f"✓ Template recorded in {CRUFT_FILE} ({template} at {commit[:12]});"
        " `cruft update` brings its later changes"
    )


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


@dataclass(frozen=True)
class RedisTarget:
    """Where the check connects and how: the answers' host and port, or what the project's own
    variables in the environment say (REDIS_URL, REDIS_PASSWORD_FILE, REDIS_TLS_*)."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    unix_socket: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify: bool = True
    from_url: bool = False

    @property
    def address(self) -> str:
        return self.unix_socket or f"{self.host}:{self.port}"

    @property
    def transport(self) -> str:
        """`` over TLS`` and the like, for the success line."""
        if not self.tls:
            return ""
        return " over TLS" if self.verify else " over TLS without certificate verification"


def load_redis_url_module(project: Path) -> ModuleType:
    """``app/queue/redis_url.py`` of the generated project, loaded by path (it imports nothing
    outside the standard library), so the check reads REDIS_URL exactly as the project does."""
    spec = importlib.util.spec_from_file_location("project_redis_url", project / REDIS_URL_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks the module up
    spec.loader.exec_module(module)
    return module


def redis_target(host: str, port: int, environ: dict[str, str], project: Path) -> RedisTarget:
    """The answers' host and port, unless REDIS_URL is set; the login and TLS from the
    environment. RedisCheckFailed names the variable that cannot be used (never a password)."""
    url_text = environ.get("REDIS_URL", "").strip()
    username, password = environ.get("REDIS_USERNAME", ""), environ.get("REDIS_PASSWORD", "")
    unix_socket, scheme_tls = "", False
    if url_text:
        urls = load_redis_url_module(project)
        try:
            url = urls.parse_redis_url(url_text)
        except urls.RedisUrlError as error:
            raise RedisCheckFailed(f"REDIS_URL {urls.redact(url_text)}: {error}") from None
        host, port, unix_socket, scheme_tls = url.host, url.port, url.unix_socket or "", url.tls
        username, password = url.username or "", url.password or ""
    password_file = environ.get("REDIS_PASSWORD_FILE", "")
    if password_file:
        try:
            password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise RedisCheckFailed(
                f"cannot read REDIS_PASSWORD_FILE {password_file} ({error.strerror or error})"
            ) from None
    tls_setting = environ.get("REDIS_TLS", "").strip().lower()
    tls = scheme_tls if tls_setting == "" else tls_setting == "true"
    files = {name: environ.get(name, "") for name in TLS_FILE_VARIABLES}
    for name, path in files.items():
        if tls and path and not Path(path).is_file():
            raise RedisCheckFailed(f"{name} {path} is not a file")
    return RedisTarget(
        host=host,
        port=port,
        username=username,
        password=password,
        unix_socket=unix_socket,
        tls=tls,
        ca_file=files["REDIS_TLS_CA_FILE"],
        cert_file=files["REDIS_TLS_CERT_FILE"],
        key_file=files["REDIS_TLS_KEY_FILE"],
        verify=environ.get("REDIS_TLS_VERIFY", "").strip().lower() != "none",
        from_url=bool(url_text),
    )


def open_connection(target: RedisTarget) -> socket.socket:
    """A TCP (or unix) socket to Redis, wrapped in TLS with the standard library's ``ssl`` when
    the target asks for it."""
    if target.unix_socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(REDIS_TIMEOUT)
        connection.connect(target.unix_socket)
        return connection
    connection = socket.create_connection((target.host, target.port), timeout=REDIS_TIMEOUT)
    if not target.tls:
        return connection
    context = ssl.create_default_context(cafile=target.ca_file or None)
    if not target.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if target.cert_file:
        context.load_cert_chain(target.cert_file, target.key_file or None)
    try:
        return context.wrap_socket(connection, server_hostname=target.host)
    except BaseException:
        connection.close()
        raise


def redis_version(target: RedisTarget) -> str:
    """AUTH (when a password is given), PING and return ``redis_version`` from INFO server."""
    try:
        with open_connection(target) as connection:
            stream = connection.makefile("rb")
            if target.password:
                user = [target.username] if target.username else []
                connection.sendall(resp_command("AUTH", *user, target.password))
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
    except ssl.SSLCertVerificationError as error:
        reason = error.verify_message or error.reason or "certificate verify failed"
        raise RedisCheckFailed(f"TLS certificate verification failed ({reason})") from None
    except ssl.SSLError as error:
        raise RedisCheckFailed(f"TLS handshake failed ({error.reason or error})") from None
    except OSError as error:
        raise RedisCheckFailed(f"connection failed ({error.strerror or error})") from None
    for line in info.splitlines():
        if line.startswith("redis_version:"):
            return line.partition(":")[2].strip()
    return "unknown version"


def advice(reason: str, target: RedisTarget) -> str:
    """What to do about a failed check."""
    if reason.startswith("authentication failed"):
        where = "the password in REDIS_URL" if target.from_url else "REDIS_PASSWORD"
        return (
            f"Set {where} or REDIS_PASSWORD_FILE (and the user name for an ACL user)"
            " in the environment."
        )
    if reason.startswith("TLS certificate verification failed"):
        return "Set REDIS_TLS_CA_FILE to the CA that signed the server's certificate."
    if reason.startswith("TLS handshake failed"):
        return (
            "Check that the server speaks TLS on this port (rediss:// or REDIS_TLS=true), and set"
            " REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE if it requires client certificates."
        )
    if reason.startswith(("REDIS_", "cannot read REDIS_")):
        return "Fix that variable in the environment."
    if target.from_url:
        return "Check REDIS_URL and that Redis answers there."
    return (
        f"Start Redis, e.g. `redis-server --port {target.port}` (then empty REDIS_PASSWORD in"
        " .env), or the project's own:"
        " `docker compose -f compose.yaml -f compose.local.yaml up -d redis`."
    )


def check_redis(mode: str, host: str, port: int, project: Path | None = None) -> None:
    """Per redis_check: skip, report if Redis answers (warn), or exit 1 without it (require).

    REDIS_URL, REDIS_PASSWORD_FILE and the REDIS_TLS_* variables in the environment are read as
    the project reads them, so a managed Redis (TLS, ACL users) can be checked at generation.
    """
    if mode == "skip":
        return
    target = RedisTarget(host, port)
    try:
        target = redis_target(host, port, dict(os.environ), project or Path.cwd())
        version = redis_version(target)
    except RedisCheckFailed as error:
        message = f"Redis check at {target.address} failed: {error}. {advice(str(error), target)}"
        if mode == "require":
            stop = "Generation stopped (redis_check=require; redis_check=warn generates anyway)."
            print(f"ERROR: {message} {stop}", file=sys.stderr)
            sys.exit(1)
        print(f"WARNING: {message} The project was generated anyway.", file=sys.stderr)
        return
    print(f"✓ Redis reachable at {target.address}{target.transport} (Redis {version})")


def main() -> None:
    answers = rendered_answers()
    project = Path.cwd()
    if answers["include_scheduler"] == "no":
        remove_scheduler_files(project, list(answers["_scheduler_files"]))
    keep_lock_variant(
        project,
        list(answers["_lock_files"]),
        str(answers["_lock_variants"]),
        str(answers["include_scheduler"]),
    )
    write_local_env(project)
    try:
        recorded = record_template(project, answers)
    except (OSError, ValueError) as error:  # a convenience: never a reason to fail generation
        recorded = f"NOTE: no .cruft.json was written ({error})."
    if recorded:
        print(recorded, file=sys.stderr if recorded.startswith("NOTE") else sys.stdout)
    check_redis(str(answers["redis_check"]), str(answers["redis_host"]), int(answers["redis_port"]))


if __name__ == "__main__":
    main()
