"""How the pages service's refusals are documented: each status with the body every
Muster error has (`{"error": {"code", "message", …}}`)."""

from __future__ import annotations

from typing import Any

from muster_runtime.errors import ErrorAnswer


def refusals(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorAnswer, "description": d} for status, d in descriptions.items()}
