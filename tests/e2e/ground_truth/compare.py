"""Every report at every level of the area hierarchy with data, against `rules.Expected`.

`/reports/service` for all time and every period with data at every area above an
activity's place (each answer's children rows too), and with each category, drive and team
filter at the district and its streets; `/reports/volunteers` at every area above a home.
Each field of each row is a figure (each key of a breakdown too); a figure the rules give
that the answer lacks is a mismatch.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.ground_truth.rules import Expected, Filter, lineage, periods_of

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


def service_queries(expected: Expected) -> list[tuple[Query, str | None, Filter]]:
    queries: list[tuple[Query, str | None, Filter]] = []
    for area, periods in sorted(expected.service_periods.items()):
        for period in sorted(periods, key=lambda p: p or ""):
            params = {"area_id": area} | ({"period": period} if period else {})
            queries.append((Query.of("/reports/service", params), period, None))
    streets = sorted(a for a in expected.service_periods if len(a) == 9)
    days = sorted(p for p in expected.service_periods[DISTRICT] if p and len(p) == 10)
    for area in [DISTRICT, *streets]:
        for only in sorted(expected.filters):
            for period in [None, *days]:
                params = {"area_id": area, only[0]: only[1]}
                if period:
                    params["period"] = period
                queries.append((Query.of("/reports/service", params), period, only))
    return queries


def volunteer_queries(expected: Expected) -> list[Query]:
    areas = sorted({a for v in expected.volunteers for a in lineage(v.home)})
    return [Query.of("/reports/volunteers", {"area_id": area}) for area in areas]


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


def compare(expected: Expected, answers: dict[Query, dict[str, Any]]) -> tuple[Tally, Tally]:
    """All figures, and those built only from volunteer-days with one approved activity
    (no attribution across activities, no zero-minute records) and registrations."""
    everything, simple = Tally(), Tally()
    simple_days = expected.single_activity_days()
    zero_or_shared = {
        (r.activity.key, r.day)
        for r in expected.records
        if (r.volunteer_id, r.day) not in simple_days or r.minutes == 0
    }
    for query, service, only in service_queries(expected):
        answer = answers[query]
        for row in [answer["area"], *answer["children"]]:
            area = row["area_id"]
            where = f"{query.label} row {area}"
            want = expected.service_row(area, service, only)
            pending = expected.pending_row(area, service, only)
            everything.check(where, want | pending, row)
            if not _shares_attribution(expected, area, service, zero_or_shared):
                simple.check(where, {k: want[k] for k in ("turnouts", "volunteers", "hours")}, row)
    for query in volunteer_queries(expected):
        answer = answers[query]
        for row in [answer["area"], *answer["children"]]:
            want = expected.volunteers_row(row["area_id"])
            everything.check(f"{query.label} row {row['area_id']}", want, row)
            simple.check(f"{query.label} row {row['area_id']}", want, row)
    return everything, simple


def _place(expected: Expected, key: str) -> str:
    return next(a.place for a in expected.activities if a.key == key)


def _shares_attribution(
    expected: Expected, area: str, period: str | None, zero_or_shared: set[tuple[str, Any]]
) -> bool:
    for key, day in zero_or_shared:
        if area in lineage(_place(expected, key)) and period in (None, *periods_of(day)):
            return True
    return False


def all_queries(expected: Expected) -> list[Query]:
    return [q for q, _, _ in service_queries(expected)] + volunteer_queries(expected)
