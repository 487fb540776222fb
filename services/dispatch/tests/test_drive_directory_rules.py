"""What each drive event changes in the organiser's list of drives, and a listed drive's
sign-up status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from muster_contracts.areas import load_area_tree
from muster_contracts.events.drives import (
    DriveAmended,
    DriveClosed,
    DriveLaunched,
    Eligibility,
    Role,
    RoleHeadcount,
    SignUpSubmitted,
)
from muster_dispatch.application.drive_directory import drive_listing_change, sign_up_status
from muster_dispatch.application.ports import SignUpStatus

AREAS = load_area_tree()
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def launched(drive_id: str = "d-1", area: str = "130203001") -> DriveLaunched:
    return DriveLaunched(
        drive_id=drive_id, title="楼道清理", organiser="li", scope_area_id=area,
        category="environment", roles=(Role(role_id="general", headcount=20),),
        signup_opens_at=NOW, signup_closes_at=NOW + timedelta(days=2),
        activity_starts_at=NOW + timedelta(days=3), activity_ends_at=NOW + timedelta(days=3, hours=2),
        eligibility=Eligibility(), team_size_min=3, team_size_max=8,
    )  # fmt: skip


def test_a_launch_lists_the_drive_under_every_area_above_its_scope() -> None:
    change = drive_listing_change(launched(), AREAS)

    assert change is not None
    assert change.creates
    fields = change.update["$set"]
    assert fields["lineage"] == ["1302", "130203", "130203001"]
    assert (fields["title"], fields["category"], fields["closed"]) == (
        "楼道清理",
        "environment",
        False,
    )
    assert fields["signup_closes_at"] == NOW + timedelta(days=2)


def test_a_new_deadline_and_closing_change_the_listing_and_other_events_do_not() -> None:
    later = NOW + timedelta(days=5)
    deadline = drive_listing_change(DriveAmended(drive_id="d-1", signup_closes_at=later), AREAS)
    headcounts = DriveAmended(
        drive_id="d-1", headcounts=(RoleHeadcount(role_id="general", headcount=30),)
    )
    closed = drive_listing_change(DriveClosed(drive_id="d-1", reason="organiser"), AREAS)
    submitted = SignUpSubmitted(
        sign_up_id="s-1", drive_id="d-1", volunteer_id="v-1", role_id="general"
    )

    assert deadline is not None
    assert not deadline.creates
    assert deadline.update == {"$set": {"signup_closes_at": later}}
    assert drive_listing_change(headcounts, AREAS) is None
    assert closed is not None
    assert closed.update == {"$set": {"closed": True}}
    assert drive_listing_change(submitted, AREAS) is None


def test_a_drive_is_open_until_it_is_closed_or_its_deadline_passes() -> None:
    listed = {"closed": False, "signup_closes_at": NOW + timedelta(hours=1)}

    assert sign_up_status(listed, NOW) is SignUpStatus.OPEN
    assert sign_up_status(listed, NOW + timedelta(hours=1)) is SignUpStatus.CLOSED
    assert sign_up_status(listed | {"closed": True}, NOW) is SignUpStatus.CLOSED
