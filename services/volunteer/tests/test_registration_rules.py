"""Registration rules as specifications: given a state, when registering, then events or an error."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.events import SealedPersonalData, VolunteerRegistered
from muster_volunteer.domain.volunteer import (
    RegisterVolunteer,
    Volunteer,
    VolunteerRuleError,
    evolve,
    normalise_phone,
    register,
)

AREAS = load_area_tree()
BUILDING = AREAS.at_level(AreaLevel.BUILDING)[0].id
SEALED = SealedPersonalData(key_id="v-1", ciphertext="opaque")


def form(**changes: object) -> RegisterVolunteer:
    fields: dict[str, object] = {
        "name": " 王芳 ",
        "phone": "138 0013 8000",
        "home_area_id": BUILDING,
        "categories": ["party_member", "party_member", "resident"],
        "skills": ["first_aid"],
    }
    return RegisterVolunteer.model_validate(fields | changes)


@pytest.mark.parametrize(
    "raw", ["13800138000", "+86 138-0013-8000", "0086 13800138000", "(138) 0013 8000"]
)
def test_phone_numbers_are_normalised_to_eleven_digits(raw: str) -> None:
    assert normalise_phone(raw) == "13800138000"


@pytest.mark.parametrize("raw", ["12345", "23800138000", "1380013800a", "+1 138 0013 8000"])
def test_non_mobile_numbers_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="mainland mobile"):
        normalise_phone(raw)


def test_registering_records_one_event_with_deduplicated_categories() -> None:
    events = register(Volunteer("v-1"), form(), SEALED, AREAS)

    assert len(events) == 1
    event = events[0]
    assert isinstance(event, VolunteerRegistered)
    assert event.categories == ("party_member", "resident")
    assert event.personal == SEALED
    assert "王芳" not in event.model_dump_json()


def test_a_registered_volunteer_cannot_register_again() -> None:
    state = evolve(Volunteer("v-1"), register(Volunteer("v-1"), form(), SEALED, AREAS)[0])

    with pytest.raises(VolunteerRuleError) as refused:
        register(state, form(), SEALED, AREAS)

    assert (state.version, refused.value.rule) == (1, "unique")


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"home_area_id": "1302039999999999"}, "home_area_id", "known_area"),
        ({"home_area_id": "130203001"}, "home_area_id", "home_level"),
        (
            {"categories": ["in_service_party_member"]},
            "employer_unit",
            "required_for_in_service_party_member",
        ),
    ],
)
def test_rule_violations_name_the_field_and_the_rule(
    changes: dict[str, object], field: str, rule: str
) -> None:
    with pytest.raises(VolunteerRuleError) as refused:
        register(Volunteer("v-1"), form(**changes), SEALED, AREAS)

    assert (refused.value.field, refused.value.rule) == (field, rule)


@pytest.mark.parametrize(
    "name", ["王芳", "欧阳娜娜", "Zhāng Wěi", "李🌸", "👨‍👩‍👧 家", "阿卜杜热合曼·买买提", "明" * 50]
)
def test_names_in_any_script_and_with_emoji_are_kept_as_written(name: str) -> None:
    assert form(name=name).name == name


@pytest.mark.parametrize(
    "raw", ["11010519491231002X", "11010519491231002x", " 440524199001010018 "]
)
def test_resident_id_numbers_with_a_valid_check_digit_are_accepted(raw: str) -> None:
    assert form(id_number=raw).id_number == raw.strip().upper()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("110105194912310021", "check digit"),
        ("11010519491231002", "18-character"),
        ("1101051949123100X2", "18-character"),
        ("110105194913310021", "date of birth"),
        ("110105299912310020", "date of birth"),
    ],
)
def test_resident_id_numbers_are_checked(raw: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        form(id_number=raw)


@pytest.mark.parametrize(
    "changes",
    [
        {"name": "   "},
        {"name": "明" * 51},
        {"name": "王\x00芳"},
        {"name": "王\x07芳"},
        {"name": "\ud800"},
        {"phone": "12800138000"},
        {"phone": "+86 138 0013 800"},
        {"categories": []},
        {"skills": ["juggling"]},
        {"id_number": "123"},
        {"birth_year": 1800},
    ],
)
def test_malformed_forms_do_not_validate(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        form(**changes)


def test_an_employer_unit_travels_only_sealed() -> None:
    command = form(categories=["in_service_party_member"], employer_unit="路北区人民医院")

    (event, *_) = register(Volunteer("v-1"), command, SEALED, AREAS)

    assert isinstance(event, VolunteerRegistered)
    assert event.employer_unit is None
    assert "路北区人民医院" not in event.model_dump_json()
    assert command.personal().employer_unit == "路北区人民医院"
