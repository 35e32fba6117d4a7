"""docs/scaling.md: generated with its measured tables filled, linked from the README; the
benchmark part that measures its figures (``--only redis_cost``) runs with tiny N."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import TEMPLATE_ROOT, bake, load_support

BENCHMARK = TEMPLATE_ROOT / "benchmarks" / "queue_bench.py"
PLACEHOLDERS = re.compile(r"TODO|TBD|XXX|\?\?|\{\{|\{%|<fill|n/a", re.IGNORECASE)
# The first header cell of each measured table; every one must be in the document.
TABLES = (
    "| Per job",
    "| Commands Redis runs per job",
    "| Redis CPU per job",
    "| Workers",
    "| Memory and network per job",
)


def require_redis_server() -> None:
    """Skip without redis-server, except in CI (``CI=true``), where it must be installed."""
    if shutil.which("redis-server") is None:
        if load_support("redis_server").running_in_ci():
            pytest.fail("the benchmark needs redis-server, and CI must have it")
        pytest.skip("the benchmark needs redis-server")


def tables(text: str) -> dict[str, list[list[str]]]:
    """Each Markdown table by its header line's first cell: its body rows as cells."""
    found: dict[str, list[list[str]]] = {}
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("|") and index + 1 < len(lines) and lines[index + 1].startswith("|--"):
            key = "| " + line.strip("|").split("|")[0].strip()
            rows = []
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append([cell.strip() for cell in row.strip().strip("|").split("|")])
            found[key] = rows
    return found


def test_generated_scaling_doc_has_its_measured_tables_filled(tmp_path: Path) -> None:
    project = bake(tmp_path)
    doc = project / "docs" / "scaling.md"
    text = doc.read_text()
    assert not PLACEHOLDERS.search(text), PLACEHOLDERS.search(text)
    found = tables(text)
    for header in TABLES:
        matching = [key for key in found if key.startswith(header)]
        assert matching, (header, sorted(found))
        rows = found[matching[0]]
        assert rows, header
        for cells in rows:
            assert all(cells), (header, cells)  # no empty cell
            assert any(re.search(r"\d", cell) for cell in cells[1:]), (header, cells)
    assert "python benchmarks/queue_bench.py --only redis_cost" in text
    for step in ("CONFIG RESETSTAT", "INFO commandstats", "INFO cpu", "INFO memory"):
        assert f'redis-cli -u "$REDIS_URL" {step}' in text, step  # re-measuring your own Redis
    assert "(docs/scaling.md)" in (project / "README.md").read_text()


def test_redis_cost_part_runs_with_tiny_n_and_the_fast_path_saves_round_trips(
    tmp_path: Path,
) -> None:
    require_redis_server()
    results = tmp_path / "results.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--only", "redis_cost", "--json", str(results)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Redis cost per job" in result.stdout
    medians = json.loads(results.read_text())["medians"]
    for path in ("fast", "plain"):
        for measure in (
            "push round trips/job",
            "start round trips/job",
            "finish round trips/job",
            "push commands run/job",
            "worker commands run/job",
            "push cpu us/job",
            "drain x1 jobs/s",
            "drain x2 jobs/s",
        ):
            assert medians[f"redis {measure} ours {path}"] > 0, (measure, path)

    def round_trips(path: str) -> float:
        return sum(
            medians[f"redis {phase} round trips/job ours {path}"]
            for phase in ("push", "start", "finish")
        )

    assert round_trips("fast") < round_trips("plain")
