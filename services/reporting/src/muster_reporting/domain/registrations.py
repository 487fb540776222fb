"""What a registration counts: the volunteer in their home area and every area above it,
by category, and in each parent's drill-down under the child it passed through (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def registration_counts(
    lineage: Sequence[str], categories: Sequence[str]
) -> list[tuple[str, dict[str, int]]]:
    """(area, counts to add) for each area of `lineage` (top area first, home area last)."""
    counts = {"registered": 1} | {f"category.{c}": 1 for c in categories}
    cells: list[tuple[str, dict[str, int]]] = []
    for area_id, child_id in zip(lineage, (*lineage[1:], None), strict=True):
        increments = dict(counts)
        if child_id is not None:
            increments |= {f"children.{child_id}.{k}": v for k, v in counts.items()}
        cells.append((area_id, increments))
    return cells
