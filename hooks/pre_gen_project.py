"""Reject bad answers before cookiecutter writes any file.

Cookiecutter renders this file with Jinja, then runs it in the project directory it has just
created. For every bad answer, in the prompts' order, it prints one
``ERROR: <field> <rule> (got <value>)`` line to stderr, then a line saying nothing was generated,
and exits 1; cookiecutter then removes the directory and prints its own report (a traceback) below.
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

NAME_WITHOUT_SLUG = (
    "slugifies to nothing; use letters or digits in it, or give a valid project_slug"
)


def rendered_answers() -> dict[str, object]:
    """The answers cookiecutter rendered into this file.

    JSON (with ``'`` escaped by ``tojson``) keeps quotes, backslashes and newlines in an answer from
    breaking this script, so even a two-line description gets a clean error message.
    """
    return json.loads(r"""{{ cookiecutter | tojson }}""")


def rendered_name_slug() -> str:
    """``project_name`` through ``slugify``, the filter behind project_slug's default.

    Rendered by cookiecutter like the answers; slugify leaves only a-z, 0-9 and '-'.
    """
    return "{{ cookiecutter.project_name | slugify }}"


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


def problems(answers: dict[str, object], name_slug: str) -> list[str]:
    """One error line per answer that breaks its rule, in the prompts' order; [] when all are fine.

    ``name_slug`` is project_name slugified. When it is empty and project_slug is invalid, the slug
    is (normally) the empty default made from the name, so the line blames the name instead.
    """
    values = {field: str(answers.get(field, "")) for field in RULES}
    broken = {field: rule for field, (rule, check) in RULES.items() if not check(values[field])}
    if not name_slug and broken.pop("project_slug", None):
        broken.setdefault("project_name", NAME_WITHOUT_SLUG)
    return [
        f"ERROR: {field} {broken[field]} (got {values[field]!r})"
        for field in RULES
        if field in broken
    ]


def nothing_generated(count: int) -> str:
    """The line after the errors: the outcome, and what cookiecutter's traceback below means."""
    answers = "the answer" if count == 1 else f"the {count} answers"
    return (
        f"Nothing was generated: fix {answers} above; "
        "cookiecutter's traceback below only repeats that this check failed."
    )


def main() -> None:
    lines = problems(rendered_answers(), rendered_name_slug())
    if lines:
        print(*lines, nothing_generated(len(lines)), "", sep="\n", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
