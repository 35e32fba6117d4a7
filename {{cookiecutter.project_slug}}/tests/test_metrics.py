"""Prometheus metrics: the web's /metrics, the pushes counter and each worker's listener."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from app import Application, current
from app.jobs.emails import send_email
from app.queue.serialization import serializer_for
from app.queue.worker.run import build_worker
from app.web import create_web
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import RedisServer, free_port
from tests.support.workers import work

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: Samples, name: str, **labels: str) -> float | None:
    return page.get((name, frozenset(labels.items())))


def scrape_web(application: Application) -> Samples:
    response = TestClient(create_web(application)).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.fixture(params=["1", "2"], ids=["one-job-at-a-time", "two-jobs-at-once"])
def redis_environment(request: pytest.FixtureRequest) -> dict[str, str]:
    """Workers of these tests serve their metrics on a port of their own, and run one job or
    two at once (WORKER_CONCURRENCY): counts must not depend on it."""
    return {"WORKER_METRICS_PORT": str(free_port()), "WORKER_CONCURRENCY": request.param}


def test_metrics_route_shows_the_queues_as_redis_holds_them(
    redis_application: Application,
) -> None:
    queue = redis_application.queue()
    queue.options(retries=0).push(jobs.fail, "disk full")
    work(redis_application, burst=True)
    for number in range(3):
        queue.push(jobs.echo, number)
    queue.push_at(datetime.now(UTC) + timedelta(hours=1), jobs.echo, "later")
    page = scrape_web(redis_application)
    assert value(page, "queue_redis_up") == 1
    assert value(page, "queue_jobs_waiting", queue="default") == 3
    assert value(page, "queue_jobs_scheduled", queue="default") == 1
    assert value(page, "queue_jobs_failed", queue="default") == 1
    oldest = value(page, "queue_oldest_job_age_seconds", queue="default")
    assert oldest is not None and 0 < oldest < 60
    assert value(page, "queue_workers", state="busy") == 0  # the burst worker has left
    assert value(page, "queue_workers", state="idle") == 0


def test_metrics_route_answers_when_redis_does_not(tmp_path: Path) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    page = scrape_web(application)
    assert value(page, "queue_redis_up") == 0
    assert value(page, "queue_jobs_waiting", queue="default") is None


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    application = make_application(tmp_path, METRICS_ENABLED="false")
    assert TestClient(create_web(application)).get("/metrics").status_code == 404


def test_pushes_are_counted_by_outcome(application: Application) -> None:
    before = {
        outcome: REGISTRY.get_sample_value("queue_pushes_total", {"outcome": outcome}) or 0.0
        for outcome in ("queued", "refused", "error")
    }
    queue = application.queue()
    assert queue.push(jobs.echo, 1)
    assert not queue.push(lambda: None)  # strict mode refuses what a worker could not import
    assert not queue.push(jobs.fail, "disk full")  # sync: the job ran and failed
    after = scrape_web(application)
    for outcome in ("queued", "refused", "error"):
        assert value(after, "queue_pushes_total", outcome=outcome) == before[outcome] + 1


def test_worker_counts_outcomes_by_task_with_bounded_labels(
    redis_application: Application, redis_environment: dict[str, str]
) -> None:
    port = redis_environment["WORKER_METRICS_PORT"]

    def count(function: str, outcome: str) -> float:
        labels = {"queue": "default", "function": function, "outcome": outcome}
        return REGISTRY.get_sample_value("queue_jobs_total", labels) or 0.0

    expected = {
        ("app.jobs.emails.send_email", "finished"): count("app.jobs.emails.send_email", "finished")
        + 1,
        ("other", "retried"): count("other", "retried") + 1,
        ("other", "failed"): count("other", "failed") + 2,
    }
    queue = redis_application.queue()
    with current(redis_application):
        queue.push(send_email, "ops@example.com")
        queue.options(retries=0).push(jobs.fail, "once")
        queue.options(retries=1, retry_backoff=0).push(jobs.fail, "twice")
        assert work(redis_application, burst=True) == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        page = samples(response.read().decode())
    counted = {
        (function, outcome): value(
            page, "queue_jobs_total", queue="default", function=function, outcome=outcome
        )
        for function, outcome in expected
    }
    assert counted == expected
    durations = value(
        page,
        "queue_job_duration_seconds_count",
        queue="default",
        function="app.jobs.emails.send_email",
    )
    assert durations is not None and durations >= 1
    functions = {
        dict(labels).get("function") for name, labels in page if name == "queue_jobs_total"
    }
    assert functions <= {"app.jobs.emails.send_email", "other"}  # tests.support.jobs: "other"


def test_a_job_whose_worker_died_is_counted_abandoned_by_the_worker_that_recovers_it(
    redis_application: Application, redis_server: RedisServer
) -> None:
    labels = {"queue": "default", "function": "other", "outcome": "abandoned"}
    before = REGISTRY.get_sample_value("queue_jobs_total", labels) or 0.0
    settings = redis_application.queue_settings
    submission = redis_application.queue().options(retries=0).submit(jobs.echo, "lost")
    client = Redis.from_url(redis_server.url)
    serializer = serializer_for(settings.serializer)
    job = Job.fetch(submission.job_id, connection=client, serializer=serializer)
    job.set_status(JobStatus.STARTED)  # as a worker killed mid-job leaves it, its lease lapsed
    client.zadd(StartedJobRegistry("default", connection=client).key, {f"{job.id}:gone": 1})
    build_worker(settings, redis_application.log(), None).clean_registries()
    assert REGISTRY.get_sample_value("queue_jobs_total", labels) == before + 1
    assert job.get_status(refresh=True) == JobStatus.FAILED
