"""The web API through FastAPI's test client."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app import PROJECT_ROOT, Application
from app.web import UNDESCRIBED_FAILURE, create_web, public_error
from tests.conftest import make_application
from tests.support import jobs
from tests.support.redis_server import free_port
from tests.support.workers import work


def client_for(application: Application) -> TestClient:
    return TestClient(create_web(application))


def test_rebuild_route_queues_and_sync_has_already_run(application: Application) -> None:
    response = client_for(application).post("/reports/7/rebuild")
    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert application.reports().read(7)["report_id"] == 7


def test_job_status_route_shows_the_result(application: Application) -> None:
    client = client_for(application)
    job_id = client.post("/reports/3/rebuild").json()["job_id"]
    body = client.get(f"/jobs/{job_id}").json()
    assert body["status"] == "finished"
    assert body["function"] == "app.jobs.reports.rebuild_report"
    assert body["result"]["report_id"] == 3


def assert_no_internals(text: str) -> None:
    """No traceback, no server path, no source file in an answer."""
    assert "Traceback" not in text
    assert str(PROJECT_ROOT) not in text
    assert ".py" not in text


def test_failed_job_shows_type_and_message_only(redis_application: Application) -> None:
    failed = redis_application.queue().options(retries=0).submit(jobs.fail, "disk full")
    work(redis_application, burst=True)
    response = client_for(redis_application).get(f"/jobs/{failed.job_id}")
    assert response.json()["status"] == "failed"
    assert response.json()["error"] == "RuntimeError: disk full"
    assert_no_internals(response.text)


def test_failed_sync_job_shows_type_and_message(application: Application) -> None:
    client = client_for(application)
    failed = application.queue().submit(jobs.fail, "disk full")
    response = client.get(f"/jobs/{failed.job_id}")
    assert response.json()["error"] == "RuntimeError: disk full"
    assert_no_internals(response.text)


def test_public_error_keeps_the_last_exception_of_a_chain() -> None:
    stored = """Traceback (most recent call last):
  File "/srv/app/app/jobs/reports.py", line 3, in rebuild_report
    open(path)
FileNotFoundError: [Errno 2] No such file or directory: 'x'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/srv/app/app/jobs/reports.py", line 5, in rebuild_report
    raise RuntimeError("report 7 has no data")
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
RuntimeError: report 7 has no data
second line of the message
"""
    assert public_error(stored) == "RuntimeError: report 7 has no data\nsecond line of the message"


def test_public_error_drops_file_lines_and_keeps_none() -> None:
    syntax = '  File "/srv/app/app/jobs/x.py", line 1\n    def (\n        ^\nSyntaxError: bad'
    assert public_error(syntax) == "SyntaxError: bad"
    assert public_error(None) is None
    assert public_error('  File "/srv/app/x.py", line 1') == UNDESCRIBED_FAILURE


def test_unknown_job_is_404(application: Application) -> None:
    assert client_for(application).get("/jobs/nope").status_code == 404


def test_health_and_ready_answer_ok_with_sync(application: Application) -> None:
    client = client_for(application)
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "queue": "sync"}


def test_redis_down_gives_503_with_a_reason(tmp_path: Path) -> None:
    application = make_application(
        tmp_path, QUEUE_CONNECTION="redis", REDIS_HOST="127.0.0.1", REDIS_PORT=str(free_port())
    )
    client = client_for(application)
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert "unreachable" in ready.json()["reason"]
    rebuild = client.post("/reports/1/rebuild")
    assert rebuild.status_code == 503
    assert "unreachable" in rebuild.json()["detail"]
    assert client.get("/health").status_code == 200
