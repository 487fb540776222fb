"""Every report at every level of the area hierarchy with data, against `rules.Expected`.

Each field of each row (the area's and its children's) is a figure, each key of a
breakdown too; a figure the rules give that the answer lacks is a mismatch.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.ground_truth.rules import Expected, Filter, lineage

CITY, DISTRICT = "1302", "130203"


@dataclass
class Tally:
    compared: int = 0
    nonzero: int = 0  # of the compared, those the rules give as neither 0 nor null
    mismatches: list[str] = field(default_factory=list)
    by_field: Counter[str] = field(default_factory=Counter)

    @property
    def matched(self) -> int:
        return self.compared - len(self.mismatches)

    def check(self, where: str, want: dict[str, Any], got: dict[str, Any]) -> None:
        for name, expected in want.items():
            if isinstance(expected, dict):
                answered = got.get(name)
                answered = answered if isinstance(answered, dict) else {}
                for key in sorted(expected.keys() | answered.keys()):
                    self._one(where, f"{name}.{key}", expected.get(key, 0), answered.get(key, 0))
            else:
                self._one(where, name, expected, got.get(name, "missing"))

    def _one(self, where: str, name: str, expected: Any, answered: Any) -> None:
        self.compared += 1
        self.nonzero += expected not in (0, None)
        if expected != answered:
            self.mismatches.append(f"{where} {name}: got {answered!r}, rules give {expected!r}")
            self.by_field[name.split(".")[0]] += 1


@dataclass(frozen=True)
class Query:
    path: str
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, path: str, params: dict[str, str]) -> Query:
        return cls(path, tuple(params.items()))

    @property
    def params(self) -> dict[str, str]:
        return dict(self.pairs)

    @property
    def label(self) -> str:
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.pairs)


@dataclass(frozen=True)
class Ask:
    """A report asked for, and how its figures are filtered."""

    query: Query
    period: str | None = None
    only: Filter = None


def asks(expected: Expected) -> list[Ask]:
    """`/reports/service` at every area above an activity's place: all time and every day
    with data, and every year, week and month too down to the streets; each filter at the
    district (all time and each day) and its streets (all time). `/reports/volunteers` at
    every area above a home."""
    found: list[Ask] = []
    for area, periods in sorted(expected.service_periods.items()):
        for period in sorted(periods, key=lambda p: p or ""):
            if len(area) > 9 and period is not None and len(period) != 10:
                continue
            params = {"area_id": area} | ({"period": period} if period else {})
            found.append(Ask(Query.of("/reports/service", params), period))
    streets = sorted(a for a in expected.service_periods if len(a) == 9)
    days = sorted(p for p in expected.service_periods[DISTRICT] if p and len(p) == 10)
    for only in sorted(expected.filters):
        for area, period in [(DISTRICT, None), *((DISTRICT, d) for d in days),
                             *((s, None) for s in streets)]:  # fmt: skip
            params = {"area_id": area, only[0]: only[1]}
            if period:
                params["period"] = period
            found.append(Ask(Query.of("/reports/service", params), period, only))
    homes = sorted({a for v in expected.volunteers for a in lineage(v.home)})
    found += [Ask(Query.of("/reports/volunteers", {"area_id": area})) for area in homes]
    return found


async def fetch_all(
    url: str, headers: dict[str, str], queries: list[Query], at_once: int = 8
) -> dict[Query, dict[str, Any]]:
    slots = asyncio.Semaphore(at_once)
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as client:

        async def one(query: Query) -> tuple[Query, dict[str, Any]]:
            async with slots:
                response = await client.get(query.path, params=query.params)
            assert response.status_code == 200, f"{query.label}: {response.text}"
            body: dict[str, Any] = response.json()
            return query, body

        return dict(await asyncio.gather(*(one(q) for q in queries)))


def check(expected: Expected, ask: Ask, answer: dict[str, Any], tally: Tally) -> None:
    """Every figure of the answer's rows (the area's and its children's)."""
    for row in [answer["area"], *answer["children"]]:
        area = row["area_id"]
        if ask.query.path == "/reports/volunteers":
            want = expected.volunteers_row(area)
        else:
            want = expected.service_row(area, ask.period, ask.only)
            want |= expected.pending_row(area, ask.period, ask.only)
        tally.check(f"{ask.query.label} row {area}", want, row)
