"""Reporting rules as specifications: given events, then rollup rows.

Periods in the reporting time zone, corrections in the period served, unique volunteers
under redelivery and out-of-order delivery, breakdowns by category, drive and team,
leaderboards, stars, figures as of past instants, and what each figure counts: activities
held (场次) at approval, beneficiaries (受益人次) of approved activities only, activities not
held yet by where they stand on the clock, and turn-outs and unique volunteers of records
of zero minutes. The projections run on the real store (live counting and the rebuild's
in-memory counting both, each test in databases of its own) and on the in-memory adapter
(`adapters/memory_read_models.py`), except the tests of what the document store keeps.
"""

from __future__ import annotations

import copy
import random
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import (
    DomainEvent,
    SealedPersonalData,
    VolunteerCategory,
    VolunteerRegistered,
)
from muster_contracts.events.activities import (
    ActivityAmended,
    ActivityCancelled,
    ActivityScheduled,
    AmendedAspect,
    BeneficiariesRecorded,
    BeneficiaryGroup,
    CheckinPolicy,
    HoursApproved,
    ServiceRecordAdjusted,
    ServiceRecordIssued,
)
from muster_reporting.adapters import as_of_history as as_of
from muster_reporting.adapters.as_of_history import (
    bucket_reads,
    buckets_of,
    counts_of,
    first_recorded,
    journal_changes,
    journal_documents,
)
from muster_reporting.adapters.memory_read_models import InMemoryReportingStore
from muster_reporting.adapters.read_models import DocumentReportingStore
from muster_reporting.application.as_of import HISTORY_SINCE, Change
from muster_reporting.application.insights import Insights
from muster_reporting.application.pending_activities import PendingActivity, in_period, split
from muster_reporting.application.served_in_area import Membership, decide_first
from muster_reporting.domain.periods import cell_id, check_period, local_day, periods_of
from muster_runtime.adapters.mongodb.counter_cells import unpack
from muster_runtime.consumer import apply_stages
from muster_runtime.mongo import Database, Document, connect
from muster_runtime.projections import ConsumedEvent
from tests.conftest import mongo_url

pytestmark = pytest.mark.integration


class Store:
    """The read models' databases of one test on the real store, each dropped after it."""

    def __init__(self) -> None:
        self.client = connect(mongo_url())
        self.names: list[str] = []

    def database(self) -> Database:
        self.names.append(f"muster_rules_{uuid4().hex[:10]}")
        return self.client[self.names[-1]]

    async def close(self) -> None:
        for name in self.names:
            await self.client.drop_database(name)
        await self.client.close()


STORE: ContextVar[Store] = ContextVar("store")
# Which adapter the read models run on: the real store, or memory (`store_only`: a test of
# what the document store keeps, which memory does not imitate).
ADAPTER: ContextVar[str] = ContextVar("adapter", default="store")
store_only = pytest.mark.store_only


@pytest.fixture(autouse=True, params=["store", "memory"])
async def _store(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    if request.param == "memory" and request.node.get_closest_marker("store_only"):
        pytest.skip("a test of the document store's documents")
    store = Store()
    token, adapter = STORE.set(store), ADAPTER.set(request.param)
    try:
        yield
    finally:
        STORE.reset(token)
        ADAPTER.reset(adapter)
        await store.close()


async def contents(db: Database) -> dict[str, dict[Any, Document]]:
    """Every non-empty collection's documents by `_id`."""
    out: dict[str, dict[Any, Document]] = {}
    for name in await db.list_collection_names():
        documents = {d["_id"]: d async for d in db[name].find()}
        if documents:
            out[name] = documents
    return out


# --- events ----------------------------------------------------------------------------

AREAS = load_area_tree()
BUILDING = "1302030010010101"  # 路北区 › street 001 › community 001 › grid 01 › building 01
OTHER_BUILDING = "1302030020010101"
DISTRICT, STREET, COMMUNITY = "130203", "130203001", "130203001001"
T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)


class Log:
    """Events as a consumer receives them: one partition per stream, offsets in order."""

    def __init__(self) -> None:
        self.partitions: dict[str, int] = {}
        self.offsets: dict[int, int] = {}

    def event(
        self, stream_id: str, version: int, event: DomainEvent, recorded_at: datetime
    ) -> ConsumedEvent:
        partition = self.partitions.setdefault(stream_id, len(self.partitions))
        offset = self.offsets.get(partition, -1) + 1
        self.offsets[partition] = offset
        envelope = EventEnvelope(
            event_id=uuid4(), type=event.event_type, schema_version=event.schema_version,
            stream_id=stream_id, stream_type=event.stream_type, stream_version=version,
            position=offset, occurred_at=recorded_at, recorded_at=recorded_at,
            correlation_id=uuid4(), actor=Actor(subject="organiser", role=Role.ORGANISER),
            payload=event.model_dump(mode="json"),
        )  # fmt: skip
        return ConsumedEvent(envelope, "muster.dispatch.events", partition, offset)


def scheduled(
    activity_id: str,
    starts_at: datetime,
    place: str = BUILDING,
    category: str = "elderly_care",
    drive_id: str | None = "drive-1",
    team_id: str | None = "team-1",
) -> ActivityScheduled:
    return ActivityScheduled(
        activity_id=activity_id, drive_id=drive_id, team_id=team_id, title="助餐",
        place_area_id=place, category=category, starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=3), capacity=10,
        checkin_policy=CheckinPolicy.ASSIGNED_ONLY, checkin_secret="c2VjcmV0",
        checkin_tolerance_minutes=10,
    )  # fmt: skip


def approved(activity_id: str, at: datetime = T0) -> HoursApproved:
    return HoursApproved(activity_id=activity_id, approved_by="organiser", at=at)


def issued(
    activity_id: str, volunteer_id: str, day: date, minutes: int, place: str = BUILDING
) -> ServiceRecordIssued:
    return ServiceRecordIssued(
        activity_id=activity_id, record_id=f"{activity_id}-{volunteer_id}-{day}",
        volunteer_id=volunteer_id, category="elderly_care", place_area_id=place,
        service_date=day, minutes=minutes, approved_by="organiser",
    )  # fmt: skip


def adjusted(activity_id: str, volunteer_id: str, day: date, delta: int) -> ServiceRecordAdjusted:
    return ServiceRecordAdjusted(
        activity_id=activity_id, record_id=f"{activity_id}-{volunteer_id}-{day}",
        volunteer_id=volunteer_id, service_date=day, delta_minutes=delta, reason="补签",
        adjusted_by="organiser",
    )  # fmt: skip


def registered(volunteer_id: str, home: str) -> VolunteerRegistered:
    return VolunteerRegistered(
        volunteer_id=volunteer_id, home_area_id=home,
        categories=(VolunteerCategory.PARTY_MEMBER, VolunteerCategory.IN_SERVICE_PARTY_MEMBER),
        skills=(), personal=SealedPersonalData(key_id=volunteer_id, ciphertext="sealed"),
    )  # fmt: skip


def projections(buffered: bool = False) -> tuple[Insights, Database]:
    db = STORE.get().database()
    stars = (100, 300, 600, 1000, 1500)
    store = DocumentReportingStore(db) if ADAPTER.get() == "store" else InMemoryReportingStore()
    insights = Insights(AREAS, "Asia/Shanghai", stars, store)
    if buffered:
        insights.store.buffer()
    return insights, db


async def cell(insights: Insights, area: str, period: str | None = None) -> dict[str, Any]:
    return await insights.service.cell(area, period)


# --- periods -----------------------------------------------------------------------------


def test_a_day_belongs_to_all_time_its_year_iso_week_month_and_itself() -> None:
    assert periods_of(date(2026, 11, 27)) == (None, "2026", "2026-W48", "2026-11", "2026-11-27")


def test_the_first_days_of_a_year_can_belong_to_the_last_iso_week_of_the_year_before() -> None:
    assert periods_of(date(2027, 1, 1)) == (None, "2027", "2026-W53", "2027-01", "2027-01-01")
    assert periods_of(date(2025, 12, 29))[1:3] == ("2025", "2026-W01")


def test_23_30_utc_is_the_next_day_in_shanghai() -> None:
    from zoneinfo import ZoneInfo

    at = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert local_day(at, ZoneInfo("Asia/Shanghai")) == date(2027, 1, 1)
    assert local_day(at, ZoneInfo("UTC")) == date(2026, 12, 31)


@pytest.mark.parametrize("period", ["2026", "2026-W53", "2026-02", "2024-02-29"])
def test_real_periods_are_accepted(period: str) -> None:
    assert check_period(period) == period


@pytest.mark.parametrize("period", ["2025-W53", "2026-W00", "2026-13", "2026-02-29", "Nov"])
def test_periods_that_do_not_exist_are_refused(period: str) -> None:
    with pytest.raises(ValueError, match="is not a year, ISO week, month or day"):
        check_period(period)


# --- the service rollup ---------------------------------------------------------------------


async def test_an_activity_late_in_the_utc_evening_counts_on_the_next_shanghai_day() -> None:
    log = Log()
    insights, _ = projections()
    starts = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 07:30 on 1 January in Shanghai
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", starts), T0),
            log.event("activity-a1", 2, approved("a1"), T0),
        ]
    )

    for period in (None, "2027", "2026-W53", "2027-01", "2027-01-01"):
        assert (await cell(insights, DISTRICT, period)).get("activities") == 1, period
    for period in ("2026", "2026-12", "2026-12-31"):
        assert await cell(insights, DISTRICT, period) == {}, period


async def test_hours_turnouts_and_unique_volunteers_roll_up_with_children_and_breakdowns() -> None:
    log = Log()
    insights, _ = projections()
    day = date(2026, 11, 27)
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0),
        log.event("activity-a1", 2, approved("a1"), T0),
        log.event("activity-a1", 3, issued("a1", "v1", day, 90), T0),
        log.event("activity-a1", 4, issued("a1", "v2", day, 60), T0),
        log.event("activity-a2", 1, scheduled("a2", T0, place=OTHER_BUILDING, team_id="t2"), T0),
        log.event("activity-a2", 2, approved("a2"), T0),
        log.event("activity-a2", 3, issued("a2", "v1", day, 30, OTHER_BUILDING), T0),
    ]
    await insights.apply(events)

    district = await cell(insights, DISTRICT, "2026-W48")
    assert (district["activities"], district["turnouts"], district["minutes"]) == (2, 3, 180)
    assert district["volunteers"] == 2  # v1 served twice in the district: one volunteer
    street = {"activities": 1, "activities_scheduled": 0, "turnouts": 2, "minutes": 150}
    assert district["children"][STREET] == {
        **street,
        "volunteers": 2,
        "category": {"elderly_care": street},
        "drives": {"drive-1": street},
        "teams": {"team-1": street},
    }
    assert district["children"]["130203002"]["volunteers"] == 1
    # A child's figures in its parent's cell are the child's own cell, but for its children.
    for area in (DISTRICT, STREET):
        parent = await cell(insights, area, "2026-W48")
        for child, figures in parent["children"].items():
            own = await cell(insights, child, "2026-W48")
            assert figures == {k: v for k, v in own.items() if k not in ("_id", "children")}
    assert district["category"]["elderly_care"]["minutes"] == 180
    assert district["drives"]["drive-1"] == {
        "activities": 2,
        "activities_scheduled": 0,
        "turnouts": 3,
        "minutes": 180,
    }
    assert district["teams"]["team-1"]["minutes"] == 150
    assert district["teams"]["t2"]["minutes"] == 30
    community = await cell(insights, COMMUNITY, "2026-11-27")
    assert (community["turnouts"], community["volunteers"]) == (2, 2)


async def test_an_attendance_over_midnight_is_one_turnout_on_its_first_day() -> None:
    log = Log()
    insights, _ = projections()
    first, second = date(2026, 11, 27), date(2026, 11, 28)
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            # 23:00-01:30 local: a record for each local day served
            log.event("activity-a1", 2, issued("a1", "v1", first, 60), T0),
            log.event("activity-a1", 3, issued("a1", "v1", second, 90), T0),
        ]
    )
    # A record issued later for the same attendance (a correction) is no new turn-out.
    await insights.apply([log.event("activity-a1", 4, issued("a1", "v1", second, 0), T0)])

    district = await cell(insights, DISTRICT)
    assert (district["turnouts"], district["minutes"], district["volunteers"]) == (1, 150, 1)
    assert (await cell(insights, DISTRICT, "2026-11-27"))["turnouts"] == 1
    assert "turnouts" not in await cell(insights, DISTRICT, "2026-11-28")
    assert (await cell(insights, DISTRICT, "2026-11-28"))["minutes"] == 90


async def test_a_correction_changes_every_figure_by_its_delta_in_the_period_served() -> None:
    log = Log()
    insights, _ = projections()
    served, later = date(2026, 11, 27), datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, issued("a1", "v1", served, 120), T0),
        ]
    )
    await insights.apply([log.event("activity-a1", 3, adjusted("a1", "v1", served, -30), later)])

    for period in (None, "2026", "2026-W48", "2026-11", "2026-11-27"):
        district = await cell(insights, DISTRICT, period)
        assert (district["minutes"], district["turnouts"], district["volunteers"]) == (90, 1, 1)
        assert district["category"]["elderly_care"]["minutes"] == 90
        assert district["drives"]["drive-1"]["minutes"] == 90
        assert district["teams"]["team-1"]["minutes"] == 90
        assert district["children"][STREET]["minutes"] == 90
    assert (
        await cell(insights, DISTRICT, "2026-12") == {}
    )  # recorded in December, served in November
    top = (await insights.service.leaderboards.board("130203|2026-11")).entries
    assert [(e.volunteer_id, e.minutes) for e in top] == [("v1", 90)]


async def test_beneficiary_amendments_and_cancellations_count_their_difference() -> None:
    log = Log()
    insights, _ = projections()
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, BeneficiariesRecorded(activity_id="a1", counts={BeneficiaryGroup.ELDERLY: 12}), T0),
            log.event("activity-a1", 3, approved("a1"), T0),
            log.event("activity-a1", 4, BeneficiariesRecorded(activity_id="a1", counts={BeneficiaryGroup.ELDERLY: 10, BeneficiaryGroup.CHILDREN: 3}, reason="recount"), T0),
            log.event("activity-a2", 1, scheduled("a2", T0, drive_id="drive-2", team_id=None), T0),
            log.event("activity-a2", 2, ActivityCancelled(activity_id="a2", reason="rain"), T0),
        ]
    )  # fmt: skip

    district = await cell(insights, DISTRICT, "2026-11")
    assert district["beneficiaries"] == {"elderly": 10, "children": 3}
    assert district["beneficiaries_total"] == 13
    assert (district["activities"], district["cancelled"]) == (1, 1)
    assert district["drives"]["drive-2"].get("activities", 0) == 0  # held none: not active
    assert district["drives"]["drive-2"]["activities_scheduled"] == 0  # nor pending


async def test_redelivered_batches_count_once_live_and_in_a_rebuild_alike() -> None:
    log = Log()
    day = date(2026, 11, 27)
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0),
        log.event("activity-a1", 2, issued("a1", "v1", day, 90), T0 + timedelta(minutes=5)),
        log.event("activity-a1", 3, issued("a1", "v2", day, 60), T0 + timedelta(minutes=5)),
        log.event("activity-a1", 4, adjusted("a1", "v2", day, 30), T0 + timedelta(hours=2)),
        log.event("volunteer-v1", 1, registered("v1", BUILDING), T0),
    ]
    rebuilt, rebuilt_store = projections(buffered=True)
    await rebuilt.apply(events)
    await rebuilt.apply(events)
    await rebuilt.store.flush()
    as_of = T0 + timedelta(days=1)
    rebuilt_as_of = await rebuilt.service.cell(DISTRICT, "2026-11-27", as_of)
    # The history writer takes the journal before the redeliveries, or after them all.
    for written_between in (True, False):
        live, live_store = projections()
        await live.apply(events)
        if written_between:
            await live.history_writer.drain()
        await live.apply(events)  # redelivered
        await live.apply(events[2:4])  # and again, in part
        assert await live.service.cell(DISTRICT, "2026-11-27", as_of) == rebuilt_as_of
        await live.history_writer.drain()

        district = await cell(live, DISTRICT, "2026-11-27")
        assert (district["turnouts"], district["volunteers"], district["minutes"]) == (2, 2, 180)
        # Documents alike, but for the boards' versions: they count writes (a rebuild: one).
        assert versionless(await contents(live_store)) == versionless(await contents(rebuilt_store))


@store_only
async def test_current_figures_are_written_before_the_history_and_a_batch_stopped_between_is_whole_when_redelivered() -> (
    None
):
    log = Log()
    day = date(2026, 11, 27)
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0),
        log.event("activity-a1", 2, issued("a1", "v1", day, 90), T0 + timedelta(minutes=5)),
        log.event("activity-a1", 3, adjusted("a1", "v1", day, 30), T0 + timedelta(hours=2)),
        log.event("volunteer-v1", 1, registered("v1", BUILDING), T0),
    ]
    once, once_store = projections()
    await once.apply(events)

    stopped, stopped_store = projections()
    current, last = stopped.handlers
    assert last == stopped.history.apply
    await apply_stages([current], events)  # the process stops before the history is written
    district = await cell(stopped, DISTRICT, "2026-11-27")
    assert district == await cell(once, DISTRICT, "2026-11-27")  # shown now
    assert (district["turnouts"], district["minutes"]) == (1, 120)
    as_of_later = T0 + timedelta(days=1)
    assert (await stopped.service.cell(DISTRICT, "2026-11-27", as_of_later)) == {}
    assert "activity_facts" not in (await contents(stopped_store))  # written after the history

    await stopped.apply(events)  # redelivered
    assert (await stopped.service.cell(DISTRICT, "2026-11-27", as_of_later))["minutes"] == 120
    for insights in (once, stopped):
        await insights.history_writer.drain()
    assert versionless(await contents(stopped_store)) == versionless(await contents(once_store))
    assert (await stopped.service.cell(DISTRICT, "2026-11-27", as_of_later))["minutes"] == 120


def versionless(contents: dict[str, dict[Any, Document]]) -> dict[str, dict[Any, Document]]:
    boards = ("service_volunteer_boards", "volunteer_star_boards")
    return {
        name: {
            k: {f: v for f, v in d.items() if f != "n" or name not in boards}
            for k, d in docs.items()
        }
        for name, docs in contents.items()
    }


def test_the_earliest_recorded_service_holds_a_volunteers_place_in_a_cell() -> None:
    early, late = datetime(2026, 11, 27, 1, tzinfo=UTC), datetime(2026, 11, 27, 9, tzinfo=UTC)
    held = Membership(late, "e-late")
    assert decide_first(None, held) == held
    assert decide_first(held, Membership(late, "e-late")) == held  # redelivery
    assert decide_first(held, Membership(early, "e-early")) == Membership(early, "e-early", late)
    assert decide_first(Membership(early, "e-early"), held) is None


async def test_unique_volunteers_as_of_follow_the_earliest_record_whatever_the_delivery_order() -> (
    None
):
    log = Log()
    insights, _ = projections()
    day = date(2026, 11, 27)
    t1, t2 = T0 + timedelta(hours=1), T0 + timedelta(hours=3, minutes=20)
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a2", 1, scheduled("a2", T0), T0),
        ]
    )
    first = log.event("activity-a1", 2, issued("a1", "v1", day, 60), t1)
    second = log.event("activity-a2", 2, issued("a2", "v1", day, 30), t2)
    await insights.apply([second])  # the later record arrives first (another partition)
    await insights.apply([first])

    async def as_of(at: datetime) -> dict[str, Any]:
        return await insights.service.cell(DISTRICT, "2026-11-27", at)

    # As of an instant: what was recorded before the start of its minute.
    assert (await as_of(t1 + timedelta(seconds=59))).get("volunteers", 0) == 0
    assert (await as_of(t1 + timedelta(minutes=1)))["volunteers"] == 1
    assert (await as_of(t1 + timedelta(minutes=1)))["minutes"] == 60
    assert (await as_of(t2)) == await as_of(t1 + timedelta(minutes=1))
    after = await as_of(t2 + timedelta(minutes=1))
    assert (after["volunteers"], after["minutes"]) == (1, 90)
    assert (await cell(insights, DISTRICT, "2026-11-27"))["volunteers"] == 1


async def test_figures_as_of_any_minute_sum_what_was_recorded_before_it() -> None:
    log = Log()
    insights, _ = projections()
    served = date(2026, 11, 27)
    recorded = [
        datetime(2023, 5, 1, 12, 0, tzinfo=UTC),  # before the history kept by year
        datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC),  # the year before, its last minute
        datetime(2026, 11, 27, 8, 15, tzinfo=UTC),
        datetime(2026, 11, 27, 8, 15, 40, tzinfo=UTC),  # the same minute
        datetime(2026, 11, 27, 8, 16, tzinfo=UTC),  # a correction, the next minute
        datetime(2026, 11, 27, 9, 59, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 0, tzinfo=UTC),  # a correction, next month
    ]
    minutes = [0, 60, 120, 30, -60, 45, 15]
    issued_records = {1, 2, 3, 5}
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), recorded[0]),
        log.event("activity-a1", 2, approved("a1"), recorded[0]),
        log.event("activity-a1", 3, issued("a1", "v1", served, 60), recorded[1]),
        log.event("activity-a1", 4, issued("a1", "v2", served, 120), recorded[2]),
        log.event("activity-a1", 5, issued("a1", "v3", served, 30), recorded[3]),
        log.event("activity-a1", 6, adjusted("a1", "v2", served, -60), recorded[4]),
        log.event("activity-a1", 7, issued("a1", "v4", served, 45), recorded[5]),
        log.event("activity-a1", 8, adjusted("a1", "v3", served, 15), recorded[6]),
    ]
    for event in events:
        await insights.apply([event])

    near = [r + timedelta(seconds=s) for r in recorded[1:] for s in (-1, 0, 59, 60, 3600)]
    for at in near:
        minute_start = at.replace(second=0, microsecond=0)
        seen = [j for j in range(len(recorded)) if recorded[j] < minute_start]
        figures = await insights.service.cell(STREET, None, at)
        assert figures.get("minutes", 0) == sum(minutes[j] for j in seen), at
        assert figures.get("turnouts", 0) == len(issued_records.intersection(seen)), at
        assert figures.get("activities", 0) == 1, at  # approved in 2023
        # The month served holds the same (a year's buckets keep months apart from all time).
        assert await insights.service.cell(STREET, "2026-11", at) == figures, at
    with pytest.raises(ValueError, match="history is kept from"):
        await insights.service.cell(STREET, None, datetime(2023, 12, 31, 23, 59, tzinfo=UTC))
    now = await insights.service.cell(STREET, None, datetime(2027, 1, 1, tzinfo=UTC))
    assert now == {k: v for k, v in (await cell(insights, STREET)).items() if k != "_id"}


@store_only
async def test_a_bucket_document_holds_one_cell_so_a_batch_rewrites_no_other_period() -> None:
    """Services on two days recorded in one minute: each of a cell's eight buckets holds
    exactly that cell's counts (a day's bucket nothing of the other day), so what a batch
    rewrites and an as-of read decodes is never bigger than the cell."""
    log = Log()
    insights, memory = projections()
    days = (date(2026, 11, 26), date(2026, 11, 27))
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, issued("a1", "v1", days[0], 60), T0),
            log.event("activity-a1", 3, issued("a1", "v2", days[1], 30), T0),
        ]
    )
    await insights.history_writer.drain()
    buckets = (await contents(memory))["service_by_area_buckets"]
    by_cell: dict[str, list[Document]] = {}
    for document_id, document in buckets.items():
        by_cell.setdefault(document_id.rpartition("@")[0], []).append(document)
    day_cells = {cell_id(DISTRICT, d.isoformat()) for d in days}
    assert day_cells | {DISTRICT, cell_id(DISTRICT, "2026-11")} <= set(by_cell)
    for cell, documents in by_cell.items():
        assert len(documents) == len(buckets_of(T0)), cell
        area, _, period = cell.partition("|")
        current = await insights.service.cell(area, period or None)
        for document in documents:
            assert unpack(document).counts == unpack(current).counts, document["_id"]
    assert unpack(by_cell[cell_id(DISTRICT, "2026-11-26")][0]).counts["minutes"] == 60
    assert unpack(by_cell[DISTRICT][0]).counts["minutes"] == 90


def test_bucket_reads_add_up_to_every_change_recorded_before_the_minute() -> None:
    """Whatever the minute asked for and whenever a change was recorded, the buckets read
    count it exactly once if it was recorded before the minute's start, else not at all;
    and they stay few."""
    rng = random.Random(5)
    since, until = HISTORY_SINCE, datetime(2028, 3, 1, tzinfo=UTC)
    span = (until - since).total_seconds()
    edges = [datetime(2024, 2, 29, 23, 59, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, tzinfo=UTC)]
    edges += [
        datetime(2026, 11, d, h, m, tzinfo=UTC)
        for d in (1, 10, 11, 21, 30)
        for h, m in ((0, 0), (5, 59), (6, 0), (23, 10))
    ]
    asked = edges + [since + timedelta(seconds=rng.uniform(0, span)) for _ in range(3000)]
    for at in asked:
        reads = bucket_reads(at)
        assert len(reads) == len(set(reads)) <= 1 + (at.year - since.year) + 45
        start = at.replace(second=0, microsecond=0)
        changes = [start - timedelta(microseconds=1), start, at + timedelta(minutes=1)]
        changes += [since + timedelta(seconds=rng.uniform(-span / 4, span)) for _ in range(5)]
        for recorded_at in changes:
            counted = len(set(reads).intersection(buckets_of(recorded_at)))
            assert counted == (1 if recorded_at < start else 0), (at, recorded_at)


def test_a_batch_is_journalled_in_documents_of_bounded_size_an_event_never_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(as_of, "JOURNAL_CHANGES_PER_DOCUMENT", 20)
    log = Log()
    events = [log.event(f"s{n % 3}", n + 1, registered(f"v{n}", BUILDING), T0) for n in range(50)]
    changes = [
        Change(event, f"cell{c}", {"registered": 1, "category.resident": c}, T0)
        for c in range(7)
        for event in events  # an event's changes are not next to each other
    ]
    documents = journal_documents("volunteers_by_area", changes)

    assert len(documents) > 1
    assert [d["_id"] for d in documents] == sorted(d["_id"] for d in documents)
    holding: dict[tuple[str, int], set[str]] = {}
    for document in documents:
        assert isinstance(document["changes"], bytes)  # one value for the store to decode
        assert len(journal_changes(document)) <= 20
        for change in journal_changes(document):
            holding.setdefault((change["s"], change["o"]), set()).add(document["_id"])
            assert counts_of(change) == {"registered": 1, "category.resident": int(change["c"][4:])}
            assert change["m"] == "2026-11-27T02:00"
    assert len(holding) == len(events)
    assert all(len(held) == 1 for held in holding.values())
    assert sum(len(journal_changes(d)) for d in documents) == len(changes)


def test_journal_documents_from_before_the_bytes_form_read_the_same() -> None:
    log = Log()
    events = [log.event("s0", n + 1, registered(f"v{n}", BUILDING), T0) for n in range(3)]
    changes = [Change(event, "cell", {"registered": 1}, T0) for event in events]
    (document,) = journal_documents("volunteers_by_area", changes)
    listed = document | {"changes": journal_changes(document)}  # as journalled before

    assert isinstance(listed["changes"], list)
    assert list(first_recorded([listed])) == list(first_recorded([document]))
    assert [change["o"] for _, change in first_recorded([listed])] == [e.offset for e in events]


def test_a_journal_read_a_document_at_a_time_keeps_each_events_first_recording() -> None:
    log = Log()
    events = [log.event("s0", n + 1, registered(f"v{n}", BUILDING), T0) for n in range(3)]
    later = log.event("s0", 4, registered("v3", BUILDING), T0)
    changes = [Change(e, "a", {"registered": 1}, T0) for e in events]
    first = journal_documents("volunteers_by_area", changes)
    # The same batch journalled again, computed otherwise, and one more event.
    again = journal_documents(
        "volunteers_by_area",
        [Change(e, "b", {"registered": 2}, T0) for e in events]
        + [Change(later, "a", {"registered": 1}, T0)],
    )
    whole = list(first_recorded([*first, *again]))
    seen: set[tuple[str, str, int]] = set()
    in_parts = [item for document in [*first, *again] for item in first_recorded([document], seen)]

    assert in_parts == whole
    assert [(change["c"], change["o"]) for _, change in whole] == [
        ("a", e.offset) for e in [*events, later]
    ]


async def ranking(insights: Insights, area: str, period: str | None) -> list[tuple[str, int]]:
    board = await insights.service.leaderboards.board(cell_id(area, period))
    return [(e.volunteer_id, e.minutes) for e in board.entries]


async def test_leaderboards_rank_by_the_local_day_served_across_year_and_week_boundaries() -> None:
    log = Log()
    insights, _ = projections()
    new_year = date(2027, 1, 1)  # Friday: ISO week 2026-W53
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", datetime(2026, 12, 31, 23, 30, tzinfo=UTC)), T0),
            log.event("activity-a1", 2, issued("a1", "v1", new_year, 60), T0),
            log.event("activity-a1", 3, issued("a1", "v2", new_year, 90), T0),
            log.event("activity-a2", 1, scheduled("a2", T0), T0),
            log.event("activity-a2", 2, issued("a2", "v1", date(2026, 12, 28), 45), T0),
        ]
    )  # fmt: skip

    for period in ("2027", "2027-01", "2027-01-01"):
        assert await ranking(insights, DISTRICT, period) == [("v2", 90), ("v1", 60)], period
    assert await ranking(insights, DISTRICT, "2026-W53") == [("v1", 105), ("v2", 90)]
    assert await ranking(insights, DISTRICT, None) == [("v1", 105), ("v2", 90)]
    for period in ("2026", "2026-12"):
        assert await ranking(insights, BUILDING, period) == [("v1", 45)], period


async def test_a_correction_demotes_a_volunteer_on_the_boards_of_the_period_served() -> None:
    log = Log()
    insights, _ = projections()
    served, later = date(2026, 11, 27), datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    await insights.apply(
        [log.event("activity-a1", 1, scheduled("a1", T0), T0)]
        + [log.event("activity-a1", n + 2, issued("a1", f"v{n}", served, 60 + n), T0) for n in range(3)]
    )  # fmt: skip
    await insights.apply([log.event("activity-a1", 9, adjusted("a1", "v2", served, -30), later)])

    for period in (None, "2026", "2026-W48", "2026-11", "2026-11-27"):
        assert await ranking(insights, STREET, period) == [("v1", 61), ("v0", 60), ("v2", 32)]
    assert await ranking(insights, STREET, "2026-12") == []  # recorded in December only
    # Corrected to nothing: off every board of the day served.
    await insights.apply([log.event("activity-a1", 10, adjusted("a1", "v0", served, -60), later)])
    assert await ranking(insights, DISTRICT, "2026-11") == [("v1", 61), ("v2", 32)]


async def test_stars_count_volunteers_by_home_area_whatever_order_the_topics_arrive_in() -> None:
    log = Log()
    insights, _ = projections()
    day = date(2026, 11, 27)
    await insights.apply([log.event("activity-a1", 1, scheduled("a1", T0), T0)])
    await insights.apply(
        [
            log.event("activity-a1", 2, issued("a1", "v1", day, 301 * 60), T0),
            log.event("activity-a1", 3, issued("a1", "v2", day, 100 * 60), T0),
            log.event("activity-a1", 4, issued("a1", "v3", day, 99 * 60), T0),
        ]
    )
    for volunteer in ("v1", "v2", "v3"):
        await insights.apply(
            [log.event(f"volunteer-{volunteer}", 1, registered(volunteer, BUILDING), T0)]
        )
    await insights.apply([log.event("activity-a1", 5, adjusted("a1", "v1", day, -120), T0)])

    by_stars, top = await insights.standing.star_rated(STREET, 10)
    assert by_stars == {1: 2, 2: 0, 3: 0, 4: 0, 5: 0}  # v1 fell back to 299 h: one star
    assert [(e.volunteer_id, insights.standing.stars(e.minutes)) for e in top] == [
        ("v1", 1),
        ("v2", 1),
    ]
    assert (await insights.standing.star_rated("130203002", 10))[1] == []
    # Registered and served in one batch: on the board at once.
    await insights.apply(
        [
            log.event("volunteer-v4", 1, registered("v4", OTHER_BUILDING), T0),
            log.event("activity-a1", 6, issued("a1", "v4", day, 100 * 60), T0),
        ]
    )
    by_stars, top = await insights.standing.star_rated("130203002", 10)
    assert (by_stars[1], [e.volunteer_id for e in top]) == (1, ["v4"])


# --- areas added by admins ------------------------------------------------------------------


async def test_an_area_not_yet_known_rolls_up_by_its_ids_prefixes() -> None:
    # Its AreaAdded travels on another partition: the activity may come first.
    log = Log()
    insights, _ = projections()
    new_building = "1302030010010199"
    assert new_building not in AREAS
    day = date(2026, 11, 27)
    await insights.apply(
        [
            log.event("volunteer-v9", 1, registered("v9", new_building), T0),
            log.event("activity-a9", 1, scheduled("a9", T0, place=new_building), T0),
            log.event("activity-a9", 2, approved("a9"), T0),
            log.event("activity-a9", 3, issued("a9", "v9", day, 90, new_building), T0),
        ]
    )
    grid = new_building[:14]
    for area in (DISTRICT, STREET, COMMUNITY, grid, new_building):
        served = await cell(insights, area)
        assert (served["activities"], served["minutes"], served["volunteers"]) == (1, 90, 1), area
        assert (await insights.volunteers.cell(area))["registered"] == 1, area
    assert (await cell(insights, grid))["children"][new_building]["minutes"] == 90


@store_only
async def test_as_of_counts_a_journalled_batch_once_before_during_and_after_its_writing() -> None:
    """The consumer journals a batch's history and goes on; figures as of an instant add
    what the buckets do not hold yet, whether the writer has not started, has written the
    buckets but not yet removed the journal, or is done."""
    log = Log()
    insights, memory = projections()
    day = date(2026, 11, 27)
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, approved("a1"), T0),
            log.event("activity-a1", 3, issued("a1", "v1", day, 60), T0 + timedelta(minutes=1)),
            log.event("volunteer-v1", 1, registered("v1", BUILDING), T0),
        ]
    )
    later = T0 + timedelta(hours=1)

    async def figures() -> tuple[Any, ...]:
        district = await insights.service.cell(DISTRICT, "2026-11-27", later)
        registered = await insights.volunteers.cell(DISTRICT, as_of=later)
        return district.get("activities"), district.get("minutes"), registered.get("registered")

    journalled = copy.deepcopy((await contents(memory))["as_of_pending"])
    assert "service_by_area_buckets" not in (await contents(memory))  # nothing written yet
    assert await figures() == (1, 60, 1)
    await insights.history_writer.drain()
    assert "as_of_pending" not in (await contents(memory))
    assert await figures() == (1, 60, 1)
    await memory["as_of_pending"].insert_many(list(journalled.values()))  # written, not yet removed
    assert await figures() == (1, 60, 1)
    await insights.history_writer.drain()  # taken again: counted once
    assert await figures() == (1, 60, 1)
    assert await insights.service.cell(DISTRICT, "2026-11-27", T0) == {}


# --- what each figure counts ---------------------------------------------------------------

DAY = date(2026, 11, 27)  # T0 (02:00 UTC) is 10:00 in Shanghai on this day
HOUR = timedelta(hours=1)


def beneficiaries(activity_id: str, **counts: int) -> BeneficiariesRecorded:
    return BeneficiariesRecorded(
        activity_id=activity_id, counts={BeneficiaryGroup(g): n for g, n in counts.items()}
    )


# --- activities held ----------------------------------------------------------------------


async def test_an_activity_counts_as_held_at_its_approval_on_its_start_day_not_at_scheduling() -> (
    None
):
    log = Log()
    insights, _ = projections()
    starts = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)  # 00:30 on 1 December in Shanghai
    await insights.apply([log.event("activity-a1", 1, scheduled("a1", starts), T0)])

    district = await cell(insights, DISTRICT)
    assert district.get("activities", 0) == 0  # scheduled is not held
    assert district["activities_scheduled"] == 1
    assert district["drives"]["drive-1"]["activities_scheduled"] == 1
    assert district["children"][STREET]["activities_scheduled"] == 1

    approval_recorded = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    await insights.apply([log.event("activity-a1", 2, approved("a1"), approval_recorded)])
    for period in (None, "2026", "2026-W49", "2026-12", "2026-12-01"):
        held = await cell(insights, DISTRICT, period)
        assert (held["activities"], held["activities_scheduled"]) == (1, 0), period
        assert held["children"][STREET]["activities"] == 1, period
        assert held["category"]["elderly_care"]["activities"] == 1, period
    assert await cell(insights, DISTRICT, "2026-12-02") == {}  # the start day, not approval's
    # As of an instant: held from the minute of the approval, pending before it.
    before = await insights.service.cell(DISTRICT, None, approval_recorded)
    after = await insights.service.cell(DISTRICT, None, approval_recorded + HOUR)
    assert (before.get("activities", 0), before["activities_scheduled"]) == (0, 1)
    assert (after["activities"], after["activities_scheduled"]) == (1, 0)


async def test_a_cancelled_activity_never_counts_as_held_and_leaves_the_pending_figures() -> None:
    log = Log()
    insights, _ = projections()
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, beneficiaries("a1", elderly=5), T0),
            log.event("activity-a1", 3, ActivityCancelled(activity_id="a1", reason="雨"), T0),
        ]
    )
    district = await cell(insights, DISTRICT)
    assert district.get("activities", 0) == 0
    assert (district["activities_scheduled"], district["cancelled"]) == (0, 1)
    assert district.get("beneficiaries_total", 0) == 0
    pending, _ = await insights.service.not_held(DISTRICT, [], None, None, T0 - HOUR)
    assert sum(pending.values()) == 0


# --- beneficiaries ------------------------------------------------------------------------


async def test_beneficiaries_count_with_the_approval_and_amendments_after_it_by_difference() -> (
    None
):
    log = Log()
    insights, _ = projections()
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, beneficiaries("a1", elderly=12), T0),
            log.event("activity-a1", 3, beneficiaries("a1", elderly=10, children=3), T0),
            # Never approved: its beneficiaries never count.
            log.event("activity-a2", 1, scheduled("a2", T0, place=OTHER_BUILDING), T0),
            log.event("activity-a2", 2, beneficiaries("a2", residents=40), T0),
        ]
    )
    assert (await cell(insights, DISTRICT)).get("beneficiaries_total", 0) == 0  # typed in only

    await insights.apply([log.event("activity-a1", 4, approved("a1"), T0 + HOUR)])
    district = await cell(insights, DISTRICT, "2026-11-27")
    assert district["beneficiaries_total"] == 13  # the counts as they stood at approval
    assert district["beneficiaries"] == {"elderly": 10, "children": 3}
    assert district["drives"]["drive-1"]["beneficiaries"] == {"elderly": 10, "children": 3}
    assert district["children"][STREET]["beneficiaries_total"] == 13
    assert district["children"].get("130203002", {}).get("beneficiaries_total", 0) == 0

    amended = T0 + 5 * HOUR
    await insights.apply(
        [log.event("activity-a1", 5, beneficiaries("a1", elderly=11, disabled=2), amended)]
    )
    district = await cell(insights, DISTRICT, "2026-11-27")
    assert district["beneficiaries_total"] == 13
    assert district["beneficiaries"] == {"elderly": 11, "children": 0, "disabled": 2}
    as_of = await insights.service.cell(DISTRICT, "2026-11-27", amended)
    assert as_of["beneficiaries"] == {"elderly": 10, "children": 3}  # before the amendment


async def test_counts_recorded_before_approval_are_counted_once_under_redelivery() -> None:
    log = Log()
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0),
        log.event("activity-a1", 2, beneficiaries("a1", elderly=7), T0),
        log.event("activity-a1", 3, approved("a1"), T0 + HOUR),
        log.event("activity-a1", 4, beneficiaries("a1", elderly=9), T0 + 2 * HOUR),
    ]
    rebuilt, rebuilt_store = projections(buffered=True)
    await rebuilt.apply(events)
    await rebuilt.store.flush()
    live, live_store = projections()
    await live.apply(events)
    await live.apply(events)  # redelivered whole
    await live.apply(events[1:3])  # and in part
    await live.history_writer.drain()

    district = await cell(live, DISTRICT)
    assert (district["activities"], district["beneficiaries_total"]) == (1, 9)
    assert versionless(await contents(live_store)) == versionless(await contents(rebuilt_store))


# --- activities not held yet --------------------------------------------------------------


def pending(starts: datetime, child: str | None = STREET, **kinds: str) -> PendingActivity:
    return PendingActivity.at(starts, starts + 3 * HOUR, DAY, child, **kinds)


def test_a_pending_activity_is_upcoming_in_progress_then_awaiting_approval_by_the_clock() -> None:
    activity = pending(T0)
    assert activity.stage(T0 - timedelta(seconds=1)) == "upcoming"
    assert activity.stage(T0) == "in_progress"
    assert activity.stage(T0 + 3 * HOUR - timedelta(seconds=1)) == "in_progress"
    assert activity.stage(T0 + 3 * HOUR) == "awaiting_approval"


def test_a_day_is_in_a_period_exactly_when_the_period_is_one_of_the_days() -> None:
    days = [date(2025, 12, 20) + timedelta(days=n) for n in range(400)]
    periods = {p for d in days for p in periods_of(d)}
    for day in days:
        for period in periods:
            assert in_period(period)(day.isoformat()) == (period in periods_of(day)), (day, period)


def test_pending_activities_split_by_period_child_and_filter() -> None:
    listed = [
        pending(T0 - 4 * HOUR, STREET, category="elderly_care"),  # ended
        pending(T0 - HOUR, STREET, drive_id="drive-1"),  # under way
        pending(T0 + HOUR, "130203002", team_id="team-1"),  # to come
        pending(T0 + HOUR, None),  # placed at the area itself
        PendingActivity.at(T0 + 48 * HOUR, T0 + 50 * HOUR, DAY + timedelta(days=2), STREET),
    ]
    children = [STREET, "130203002", "130203003"]

    area, by_child = split(listed, T0, "2026-11-27", children)
    assert area == {"upcoming": 2, "in_progress": 1, "awaiting_approval": 1}
    assert by_child == {
        STREET: {"upcoming": 0, "in_progress": 1, "awaiting_approval": 1},
        "130203002": {"upcoming": 1, "in_progress": 0, "awaiting_approval": 0},
        "130203003": {"upcoming": 0, "in_progress": 0, "awaiting_approval": 0},
    }
    assert split(listed, T0, None, children)[0]["upcoming"] == 3  # all time: the later day too
    assert split(listed, T0, "2026-W48", children)[0]["upcoming"] == 3
    assert split(listed, T0, "2026-11-28", children)[0] == dict.fromkeys(area, 0)
    only_team = split(listed, T0, None, children, ("teams", "team-1"))[0]
    assert only_team == {"upcoming": 1, "in_progress": 0, "awaiting_approval": 0}
    only_category = split(listed, T0, None, children, ("category", "elderly_care"))[0]
    assert only_category == {"upcoming": 0, "in_progress": 0, "awaiting_approval": 1}
    assert split(listed, T0, None, children, ("drives", "drive-1"))[0]["in_progress"] == 1


@store_only
async def test_each_area_lists_its_pending_activities_until_approved_or_cancelled() -> None:
    log = Log()
    insights, memory = projections()
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0 - 24 * HOUR),
        log.event("activity-a2", 1, scheduled("a2", T0 + HOUR, place=OTHER_BUILDING), T0),
        log.event("activity-a3", 1, scheduled("a3", T0 + 2 * HOUR), T0),
    ]
    await insights.apply(events)
    now = T0 + 90 * timedelta(minutes=1)  # a1 under way, a2 just started, a3 to come
    district, by_street = await insights.service.not_held(
        DISTRICT, [STREET, "130203002"], "2026-11", None, now
    )
    assert district == {"upcoming": 1, "in_progress": 2, "awaiting_approval": 0}
    assert by_street[STREET] == {"upcoming": 1, "in_progress": 1, "awaiting_approval": 0}
    building, _ = await insights.service.not_held(BUILDING, [], None, None, now)
    assert building == {"upcoming": 1, "in_progress": 1, "awaiting_approval": 0}
    assert (await cell(insights, DISTRICT))["activities_scheduled"] == 3

    later = T0 + 4 * HOUR  # a1 over and awaiting approval
    assert (await insights.service.not_held(COMMUNITY, [], None, None, later))[0] == {
        "upcoming": 0,
        "in_progress": 1,
        "awaiting_approval": 1,
    }
    settled = [
        log.event("activity-a1", 2, approved("a1"), later),
        log.event("activity-a3", 2, ActivityCancelled(activity_id="a3", reason="雨"), later),
    ]
    await insights.apply(settled)
    await insights.apply(events + settled)  # redelivered: nothing comes back
    assert (await insights.service.not_held(DISTRICT, [], None, None, later))[0] == {
        "upcoming": 0,
        "in_progress": 0,
        "awaiting_approval": 1,  # a2, ended at this instant
    }
    lists = (await contents(memory))["pending_activities"]
    assert set(lists) == {DISTRICT[:4], DISTRICT, STREET, COMMUNITY, BUILDING[:14], BUILDING} | {
        OTHER_BUILDING[:n] for n in (9, 12, 14, 16)
    }
    assert await insights.service.pending.of_area(BUILDING) == []
    district_cell = await cell(insights, DISTRICT)
    assert (district_cell["activities_scheduled"], district_cell["activities"]) == (1, 1)


def moved(activity_id: str, starts_at: datetime, place: str) -> ActivityAmended:
    return ActivityAmended(
        activity_id=activity_id, starts_at=starts_at, ends_at=starts_at + timedelta(hours=2),
        place_area_id=place, capacity=10, changed=(AmendedAspect.TIME, AmendedAspect.PLACE),
    )  # fmt: skip


async def test_an_amended_activity_is_pending_held_and_served_where_and_when_it_moved_to() -> None:
    log = Log()
    insights, _ = projections()
    next_day = T0 + 24 * HOUR
    events = [
        log.event("activity-a1", 1, scheduled("a1", T0), T0 - 48 * HOUR),
        log.event("activity-a1", 2, moved("a1", next_day, OTHER_BUILDING), T0 - 24 * HOUR),
    ]
    await insights.apply(events)
    await insights.apply(events)  # redelivered: counted once

    district = await cell(insights, DISTRICT)
    assert district["activities_scheduled"] == 1
    assert district["children"][STREET]["activities_scheduled"] == 0
    assert district["children"]["130203002"]["activities_scheduled"] == 1
    assert district["drives"]["drive-1"]["activities_scheduled"] == 1
    assert (await cell(insights, DISTRICT, "2026-11-27"))["activities_scheduled"] == 0
    assert (await cell(insights, DISTRICT, "2026-11-28"))["activities_scheduled"] == 1
    assert await insights.service.pending.of_area(BUILDING) == []
    assert await insights.service.pending.of_area(STREET) == []
    pending, _ = await insights.service.not_held(DISTRICT, [], None, None, next_day + HOUR)
    assert pending == {"upcoming": 0, "in_progress": 1, "awaiting_approval": 0}  # 2 h, not 3
    later, _ = await insights.service.not_held(DISTRICT, [], None, None, next_day + 2 * HOUR)
    assert later == {"upcoming": 0, "in_progress": 0, "awaiting_approval": 1}
    # As of before the amendment it was pending on its first day.
    before = await insights.service.cell(DISTRICT, "2026-11-27", T0 - 30 * HOUR)
    assert before["activities_scheduled"] == 1

    served = next_day.date()
    await insights.apply(
        [
            log.event("activity-a1", 3, approved("a1"), next_day + 3 * HOUR),
            log.event("activity-a1", 4, issued("a1", "v1", served, 120), next_day + 3 * HOUR),
        ]
    )
    district = await cell(insights, DISTRICT, "2026-11-28")
    assert (district["activities"], district["activities_scheduled"]) == (1, 0)
    assert district["children"]["130203002"]["activities"] == 1
    assert district["children"]["130203002"]["minutes"] == 120
    assert STREET not in district.get("children", {})


# --- turn-outs and unique volunteers of records of zero minutes ----------------------------


async def test_a_record_of_zero_minutes_is_a_turnout_and_a_volunteer_but_no_one_on_the_board() -> (
    None
):
    log = Log()
    insights, _ = projections()
    await insights.apply(
        [
            log.event("activity-a1", 1, scheduled("a1", T0), T0),
            log.event("activity-a1", 2, approved("a1"), T0),
            log.event("activity-a1", 3, issued("a1", "v0", DAY, 0), T0),  # rounds to nothing
            log.event("activity-a1", 4, issued("a1", "v1", DAY, 60), T0),
            log.event("activity-a1", 5, issued("a1", "v2", DAY, 30), T0),
        ]
    )
    await insights.apply([log.event("activity-a1", 6, adjusted("a1", "v2", DAY, -30), T0)])

    for area in (DISTRICT, COMMUNITY, BUILDING):
        figures = await cell(insights, area, "2026-11-27")
        assert (figures["turnouts"], figures["volunteers"], figures["minutes"]) == (3, 3, 60)
    board = await insights.service.leaderboards.board(cell_id(DISTRICT, "2026-11"))
    assert [(e.volunteer_id, e.minutes) for e in board.entries] == [("v1", 60)]
    served = (await insights.service.served.figures({DISTRICT: {"v0", "v2"}}))[DISTRICT]
    assert {v: (s.minutes, s.turnouts) for v, s in served.items()} == {
        "v0": (0, 1),
        "v2": (0, 1),
    }
