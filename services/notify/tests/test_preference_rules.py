"""Preferences and quiet hours: given a volunteer's preferences and a message's moment,
then when it goes out on an interrupting channel."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_notify.application.channels import Subscription, plan_pushes
from muster_notify.domain.messages import Cause, Message, MessageKind
from muster_notify.domain.preferences import (
    Channel,
    PreferenceError,
    Preferences,
    QuietHours,
    send_at,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
REMINDER = MessageKind.ACTIVITY_REMINDER
BROADCAST = MessageKind.DRIVE_LAUNCHED


def local(day: int, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=zone)


def in_zone(name: str) -> Preferences:
    return Preferences(quiet=QuietHours(time_zone=name))


DEFAULT = Preferences()


def test_outside_quiet_hours_a_message_goes_at_its_moment() -> None:
    moment = local(7, 15, 30)
    assert send_at(DEFAULT, BROADCAST, moment, planned_at=moment) == moment
    assert send_at(DEFAULT, REMINDER, moment, planned_at=moment - timedelta(days=1)) == moment


def test_a_message_that_is_not_time_bound_waits_until_quiet_hours_end() -> None:
    # 23:10 and 02:00 fall in the same window, which ends at 07:00 the next morning.
    assert send_at(DEFAULT, BROADCAST, local(7, 23, 10), local(7, 23, 10)) == local(8, 7)
    assert send_at(DEFAULT, BROADCAST, local(8, 2), local(8, 2)) == local(8, 7)


def test_a_reminder_inside_quiet_hours_goes_before_they_begin() -> None:
    # The 1-hour reminder of a 07:30 activity falls at 06:30: it goes at 21:59 the evening
    # before (across midnight), planned the day before.
    moment = local(8, 6, 30)
    assert send_at(DEFAULT, REMINDER, moment, planned_at=local(7, 9)) == local(7, 21, 59)
    assert send_at(DEFAULT, MessageKind.CHECK_IN_OPEN, local(7, 22, 30), local(7, 8)) == local(
        7, 21, 59
    )


def test_a_reminder_planned_inside_quiet_hours_goes_at_its_moment() -> None:
    # No moment before the quiet hours is left: a reminder after the activity is worthless.
    moment = local(8, 6, 30)
    assert send_at(DEFAULT, REMINDER, moment, planned_at=local(7, 23)) == moment


def test_a_late_message_goes_at_once_unless_quiet_hours_hold_it() -> None:
    caused = local(7, 12)
    assert send_at(DEFAULT, BROADCAST, caused, planned_at=local(7, 18)) == local(7, 18)
    assert send_at(DEFAULT, BROADCAST, caused, planned_at=local(7, 22, 1)) == local(8, 7)


def test_quiet_hours_are_the_volunteers_own_local_time() -> None:
    # 23:00 in London is 07:00 the next day in Shanghai: quiet for the Londoner only.
    moment = local(7, 23, zone=LONDON)
    assert send_at(DEFAULT, BROADCAST, moment, moment) == moment
    assert send_at(in_zone("Europe/London"), BROADCAST, moment, moment) == local(8, 7, zone=LONDON)


def test_quiet_hours_across_a_daylight_saving_change_end_at_local_time() -> None:
    # Europe/London moves its clocks back on 2026-10-25 at 02:00 BST: the night is an hour
    # longer, and quiet hours still end at 07:00 local (GMT), 8 h 59 min after 22:01 BST.
    moment = datetime(2026, 10, 24, 22, 1, tzinfo=LONDON)
    ends = send_at(in_zone("Europe/London"), BROADCAST, moment, moment)
    assert ends == datetime(2026, 10, 25, 7, 0, tzinfo=LONDON)
    assert ends.astimezone(UTC) - moment.astimezone(UTC) == timedelta(hours=9, minutes=59)


def test_quiet_hours_that_do_not_span_midnight() -> None:
    siesta = Preferences(quiet=QuietHours(start=time(12), end=time(14)))
    assert send_at(siesta, BROADCAST, local(7, 13), local(7, 13)) == local(7, 14)
    assert send_at(siesta, BROADCAST, local(7, 23), local(7, 23)) == local(7, 23)
    assert send_at(siesta, REMINDER, local(7, 13), local(7, 9)) == local(7, 11, 59)


def test_equal_start_and_end_mean_no_quiet_hours() -> None:
    never = Preferences(quiet=QuietHours(start=time(0), end=time(0)))
    assert send_at(never, BROADCAST, local(8, 3), local(8, 3)) == local(8, 3)


def test_the_end_of_quiet_hours_is_not_quiet() -> None:
    assert send_at(DEFAULT, BROADCAST, local(8, 7), local(8, 7)) == local(8, 7)
    assert send_at(DEFAULT, BROADCAST, local(7, 22), local(7, 22)) == local(8, 7)


def test_channels_are_on_until_turned_off_per_kind() -> None:
    preferences = Preferences(off=frozenset({(BROADCAST, Channel.EMAIL)}))
    assert preferences.channels_for(BROADCAST) == [Channel.WEBHOOK]
    assert preferences.channels_for(REMINDER) == [Channel.EMAIL, Channel.WEBHOOK]


@pytest.mark.parametrize(
    ("quiet", "field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"start": time(22, 0, 30)}, "quiet_start"),
        ({"end": time(7, tzinfo=UTC)}, "quiet_end"),
    ],
)
def test_quiet_hours_that_cannot_be_kept_are_refused(quiet: dict[str, object], field: str) -> None:
    with pytest.raises(PreferenceError) as refused:
        QuietHours(**quiet)  # type: ignore[arg-type]
    assert refused.value.field == field


# --- which channels a message is planned on --------------------------------------------------

AREAS = load_area_tree()
STREET, OTHER_STREET = "130203001", "130203002"
BUILDING = next(a.id for a in AREAS.at_level(AreaLevel.BUILDING) if a.id.startswith(STREET))
HOOKS = [
    Subscription("street", STREET, "https://hooks.example/a", "s", "organiser"),
    Subscription("other", OTHER_STREET, "https://hooks.example/b", "s", "organiser"),
    Subscription(
        "reminders-only",
        STREET,
        "https://hooks.example/c",
        "s",
        "organiser",
        frozenset({MessageKind.ACTIVITY_REMINDER}),
    ),
]


def planned(preferences: Preferences, **options: object) -> list[tuple[str, str]]:
    message = Message("v-1", BROADCAST, Cause("e-1", local(7, 15)), drive_id="d-1")
    pushes = plan_pushes(message, preferences, BUILDING, HOOKS, AREAS, local(7, 15), **options)  # type: ignore[arg-type]
    return [(p.channel.value, p.target) for p in pushes]


def test_a_message_is_planned_on_email_and_the_subscriptions_covering_its_area() -> None:
    assert planned(DEFAULT) == [("email", "v-1"), ("webhook", "street")]


def test_a_channel_turned_off_for_the_kind_is_not_planned() -> None:
    no_email = Preferences(off=frozenset({(BROADCAST, Channel.EMAIL)}))
    no_hooks = Preferences(off=frozenset({(BROADCAST, Channel.WEBHOOK)}))
    assert planned(no_email) == [("webhook", "street")]
    assert planned(no_hooks) == [("email", "v-1")]
    assert planned(DEFAULT, enabled=frozenset({Channel.WEBHOOK})) == [("webhook", "street")]


def test_a_delivery_planned_twice_is_the_same_delivery() -> None:
    message = Message("v-1", BROADCAST, Cause("e-1", local(7, 15)), drive_id="d-1")
    first = plan_pushes(message, DEFAULT, BUILDING, HOOKS, AREAS, local(7, 15))
    again = plan_pushes(message, DEFAULT, BUILDING, HOOKS, AREAS, local(7, 16))
    assert [p.delivery_id for p in first] == [p.delivery_id for p in again]
