"""Reject bad answers before cookiecutter writes any file.

Cookiecutter renders this file with Jinja, then runs it with the project directory as the working
directory. On the first bad answer it prints one ``ERROR: <field> <rule> (got <value>)`` line to
stderr and exits 1; cookiecutter then removes the directory it created.
"""

from __future__ import annotations

import ipaddress
import json
import re
import sys
from collections.abc import Callable

Rule = tuple[str, Callable[[str], bool]]

SLUG = re.compile(r"[a-z][a-z0-9_-]*[a-z0-9]")
HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
DIGITS = re.compile(r"[0-9]+")


def rendered_answers() -> dict[str, object]:
    """The answers cookiecutter rendered into this file.

    JSON (with ``'`` escaped by ``tojson``) keeps quotes, backslashes and newlines in an answer from
    breaking this script, so even a two-line description gets a clean error message.
    """
    return json.loads(r"""{{ cookiecutter | tojson }}""")


def one_of(*choices: str) -> Rule:
    return f"must be one of {', '.join(choices)}", lambda value: value in choices


def integer_between(low: int, high: int) -> Rule:
    def check(value: str) -> bool:
        return DIGITS.fullmatch(value) is not None and low <= int(value) <= high

    return f"must be an integer from {low} to {high}", check


def is_host(value: str) -> bool:
    """A DNS name (labels of letters, digits, '-' and '_') or an IPv4/IPv6 address."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    labels = value.split(".")
    return len(value) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)


RULES: dict[str, Rule] = {
    "project_name": ("must not be empty", lambda value: bool(value.strip())),
    "project_slug": (
        "must be a lowercase letter followed by a-z, 0-9, '-' or '_', ending in a letter or digit "
        "(at least 2 characters)",
        lambda value: SLUG.fullmatch(value) is not None,
    ),
    "description": ("must be a single line", lambda value: not set(value) & {"\n", "\r"}),
    "python_version": one_of("3.11", "3.12", "3.13", "3.14"),
    "queue_connection": one_of("sync", "redis"),
    "redis_host": ("must be a hostname or IP address without spaces", is_host),
    "redis_port": integer_between(1, 65535),
    "web_port": integer_between(1, 65535),
    "worker_replicas": integer_between(1, 64),
    "include_scheduler": one_of("yes", "no"),
    "redis_check": one_of("warn", "require", "skip"),
}


def first_problem(answers: dict[str, object]) -> str | None:
    """The error line for the first answer that breaks its rule, or None when all are fine."""
    for field, (rule, check) in RULES.items():
        value = str(answers.get(field, ""))
        if not check(value):
            return f"ERROR: {field} {rule} (got {value!r})"
    return None


def main() -> None:
    problem = first_problem(rendered_answers())
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
