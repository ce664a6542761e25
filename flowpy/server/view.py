"""The live view and ``/metrics``: what a person's browser and a Prometheus server get.

The runtime's own address shows the view: ``GET /`` answers a browser (``Accept`` preferring
``text/html``) with the page and everyone else with the JSON status document as before. The
page and what it loads are static files shipped in the package (``static/page``, and elkjs
under ``static/vendor``), served under ``/view/``; the page is an FBP protocol client of the
runtime's own WebSocket, so it needs nothing else from the server. :func:`install` adds the
routes to the app (a small hook, so the app module stays the transport).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flask

from . import metrics

STATIC = Path(__file__).resolve().parent / "static"
PAGE = "page/index.html"


def wants_page(request: flask.Request) -> bool:
    """A browser navigating here (it prefers HTML to JSON); API clients get JSON."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "text/html"
        and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]
    )


def page() -> flask.Response:
    """The live view's page, never cached (it varies with ``Accept``)."""
    response = flask.send_from_directory(STATIC, PAGE, max_age=0)
    response.headers["Vary"] = "Accept"
    return response


def install(app: flask.Flask, endpoint: Any, transport_stats: Any) -> None:
    """Add ``/view/<file>`` (the page's files) and ``/metrics`` to ``app``."""
    registry = metrics.make_registry(getattr(endpoint, "runtime", None), transport_stats)

    @app.get("/view/<path:name>")
    def view_file(name: str) -> flask.Response:
        return flask.send_from_directory(STATIC, name, max_age=0)

    @app.get("/metrics")
    def prometheus() -> flask.Response:
        return flask.Response(
            metrics.exposition(registry),
            mimetype=None,
            headers={"Content-Type": metrics.CONTENT_TYPE},
        )
