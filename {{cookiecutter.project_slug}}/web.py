"""Web entry point: ``python web.py`` serves the API with uvicorn; ``web`` is the FastAPI app."""

from __future__ import annotations

import uvicorn

from app import app
from app.web import create_web

application = app()
web = create_web(application)


def main() -> None:
    uvicorn.run(
        web,
        host=str(application.config.get("web.host")),
        port=int(application.config.get("web.port")),
        log_config=None,
    )


if __name__ == "__main__":
    main()
