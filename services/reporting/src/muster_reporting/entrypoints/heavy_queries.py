"""Heavy report queries: how many this process answers at once.

A spreadsheet export, a series of more than 31 points and figures `as_of` an instant are
the queries that read or build the most (up to 366 cells, a workbook, a cell's history
buckets). Each process answers at most `heavy_report_limit` of them at a time and refuses
the next at once with 503 `reports_busy` and `Retry-After`, rather than queueing work that
would slow every answer, `/healthz` and the consumer's heartbeat included. Other queries
are never refused for it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from muster_http.openapi_errors import EVERYWHERE
from muster_runtime.errors import ServiceUnavailableError

# What a refused client waits before asking again, in seconds.
RETRY_AFTER_SECONDS = 1
# The 503 of a route that may be heavy, in its OpenAPI (the store's 503 too).
BUSY_ANSWER: dict[int | str, dict[str, Any]] = {
    503: {
        "description": EVERYWHERE["503"] + " Or this process is answering as many heavy "
        "queries (a spreadsheet, a series of more than 31 points, figures `as_of`) as it "
        "takes at once (`reports_busy`): retry after `Retry-After` seconds."
    }
}


class HeavyQueries:
    """Admits at most `limit` heavy queries at once; the one over it is refused (503)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.running = 0

    @contextlib.contextmanager
    def admit(self, heavy: bool = True) -> Iterator[None]:
        """A slot for a heavy query while the block runs (nothing for a light one)."""
        if not heavy:
            yield
            return
        if self.running >= self.limit:
            raise ServiceUnavailableError(
                f"this reporting process is answering {self.limit} heavy queries; "
                "try again shortly",
                code="reports_busy",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            )
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
