"""Rotating check-in codes and distances: what both services rely on for proof of presence."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from muster_contracts.checkin import (
    CodeCheck,
    Coordinates,
    checkin_code,
    classify_checkin_code,
    decode_secret,
    distance_metres,
    encode_secret,
    new_checkin_secret,
    verify_checkin_code,
)

SECRET = bytes(range(32))
ACTIVITY = "act-1"
# 12:00:00 UTC falls on a 60-second step boundary.
T0 = datetime(2025, 3, 5, 12, 0, 0, tzinfo=UTC)


def test_a_code_is_six_digits_and_stable_within_its_step() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)

    assert len(code) == 6
    assert code.isdigit()
    assert checkin_code(SECRET, ACTIVITY, T0 + timedelta(seconds=59)) == code


def test_the_code_rotates_every_step() -> None:
    codes = {checkin_code(SECRET, ACTIVITY, T0 + timedelta(minutes=n)) for n in range(20)}

    assert len(codes) >= 19  # distinct but for a one-in-a-million collision


def test_the_step_length_is_configurable() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0, step_seconds=30)

    assert checkin_code(SECRET, ACTIVITY, T0 + timedelta(seconds=29), step_seconds=30) == code
    assert verify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(seconds=59), step_seconds=30)
    assert not verify_checkin_code(
        SECRET, ACTIVITY, code, T0 + timedelta(seconds=60), step_seconds=30
    )


def test_codes_depend_on_the_activity_and_the_secret() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)

    assert not verify_checkin_code(SECRET, "act-2", code, T0)
    assert not verify_checkin_code(b"another secret", ACTIVITY, code, T0)


def test_the_current_and_the_previous_code_are_accepted() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)

    assert verify_checkin_code(SECRET, ACTIVITY, code, T0)
    assert verify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(seconds=119))
    assert not verify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(seconds=120))


def test_a_wider_window_accepts_older_codes() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)
    later = T0 + timedelta(minutes=3)

    assert not verify_checkin_code(SECRET, ACTIVITY, code, later, window_steps=2)
    assert verify_checkin_code(SECRET, ACTIVITY, code, later, window_steps=3)


def test_a_code_from_the_future_is_wrong() -> None:
    future = checkin_code(SECRET, ACTIVITY, T0 + timedelta(minutes=1))

    assert classify_checkin_code(SECRET, ACTIVITY, future, T0) is CodeCheck.WRONG


def test_an_old_code_is_expired_rather_than_wrong() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)

    assert classify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(minutes=1)) is (
        CodeCheck.VALID
    )
    assert classify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(minutes=2)) is (
        CodeCheck.EXPIRED
    )
    assert classify_checkin_code(SECRET, ACTIVITY, code, T0 + timedelta(minutes=30)) is (
        CodeCheck.EXPIRED
    )


def test_a_code_never_shown_is_wrong() -> None:
    shown = {checkin_code(SECRET, ACTIVITY, T0 - timedelta(minutes=n)) for n in range(62)}
    never_shown = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in shown)

    assert classify_checkin_code(SECRET, ACTIVITY, never_shown, T0) is CodeCheck.WRONG


@pytest.mark.parametrize("garbage", ["", "12345", "1234567", "abcdef", "12 456", "１２３４５６"])
def test_malformed_codes_are_wrong(garbage: str) -> None:
    assert classify_checkin_code(SECRET, ACTIVITY, garbage, T0) is CodeCheck.WRONG


def test_surrounding_whitespace_is_ignored() -> None:
    code = checkin_code(SECRET, ACTIVITY, T0)

    assert verify_checkin_code(SECRET, ACTIVITY, f" {code}\n", T0)


def test_codes_need_timezone_aware_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        checkin_code(SECRET, ACTIVITY, datetime(2025, 3, 5, 12, 0))


def test_the_same_instant_in_another_zone_gives_the_same_code() -> None:
    local = T0.astimezone(datetime.now(UTC).astimezone().tzinfo)

    assert checkin_code(SECRET, ACTIVITY, local) == checkin_code(SECRET, ACTIVITY, T0)


def test_secrets_are_random_and_round_trip_through_base64() -> None:
    secret = new_checkin_secret()

    assert len(secret) == 32
    assert secret != new_checkin_secret()
    assert decode_secret(encode_secret(secret)) == secret


def test_distance_to_the_same_point_is_zero() -> None:
    here = Coordinates(39.63, 118.18)

    assert distance_metres(here, here) == 0.0


def test_a_thousandth_of_a_degree_of_latitude_is_about_111_metres() -> None:
    distance = distance_metres(Coordinates(39.630, 118.18), Coordinates(39.631, 118.18))

    assert distance == pytest.approx(111.2, abs=0.1)


def test_longitude_shrinks_with_latitude_and_distance_is_symmetric() -> None:
    a, b = Coordinates(60.0, 10.0), Coordinates(60.0, 10.001)

    assert distance_metres(a, b) == pytest.approx(111.2 * math.cos(math.radians(60)), abs=0.1)
    assert distance_metres(a, b) == distance_metres(b, a)


def test_antipodes_are_half_the_circumference_apart() -> None:
    distance = distance_metres(Coordinates(0, 0), Coordinates(0, 180))

    assert distance == pytest.approx(math.pi * 6_371_008.8)


def test_coordinates_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="out of range"):
        Coordinates(91, 0)
