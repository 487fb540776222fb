"""Star rating by cumulative approved service hours (thresholds configurable)."""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated

from pydantic import AfterValidator

DEFAULT_STAR_THRESHOLDS_HOURS: tuple[int, ...] = (100, 300, 600, 1000, 1500)


def check_thresholds(thresholds_hours: tuple[int, ...]) -> None:
    if any(t <= 0 for t in thresholds_hours) or any(a >= b for a, b in pairwise(thresholds_hours)):
        raise ValueError("star thresholds must be positive and strictly ascending")


def checked_thresholds(thresholds_hours: tuple[int, ...]) -> tuple[int, ...]:
    check_thresholds(thresholds_hours)
    return thresholds_hours


# Star thresholds in a settings model or payload, checked on parse.
StarThresholds = Annotated[tuple[int, ...], AfterValidator(checked_thresholds)]


def star_rating(
    total_minutes: int, thresholds_hours: tuple[int, ...] = DEFAULT_STAR_THRESHOLDS_HOURS
) -> int:
    """Stars earned by cumulative approved minutes: one per threshold (in hours) reached."""
    check_thresholds(thresholds_hours)
    return sum(1 for hours in thresholds_hours if total_minutes >= hours * 60)
