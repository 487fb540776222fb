"""The leadership dashboard: a static page (its chart library vendored locally) that reads
the JSON reports with the caller's token."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

PAGE = Path(__file__).with_name("dashboard")


def mount(app: FastAPI) -> None:
    """Serve the page at `/dashboard/` (index.html, its script and the vendored ECharts)."""
    app.mount("/dashboard", StaticFiles(directory=PAGE, html=True), name="dashboard")
