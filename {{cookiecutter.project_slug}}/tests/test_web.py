"""The web API through FastAPI's test client."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from app import Application
from app.web import create_web
from tests.conftest import make_application
from tests.support.redis_server import free_port


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
