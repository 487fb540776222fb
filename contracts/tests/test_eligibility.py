"""Eligibility rules as specifications: given a drive's rules and a volunteer, which rules fail."""

from __future__ import annotations

from datetime import date

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.eligibility import (
    MIN_AGE,
    PARTY_MEMBERS_ONLY,
    RESIDENTS_ONLY,
    VolunteerProfile,
    check_eligibility,
    fits_role,
    is_party_member,
)
from muster_contracts.events.drives import Eligibility, Role
from muster_contracts.events.volunteer import (
    SealedPersonalData,
    Skill,
    VolunteerCategory,
    VolunteerRegistered,
)

AREAS = load_area_tree()
COMMUNITY = AREAS.at_level(AreaLevel.COMMUNITY)[0].id
STREET = COMMUNITY[:9]
BUILDING_INSIDE = next(
    b.id for b in AREAS.at_level(AreaLevel.BUILDING) if b.id.startswith(COMMUNITY)
)
BUILDING_OUTSIDE = next(
    b.id for b in AREAS.at_level(AreaLevel.BUILDING) if not b.id.startswith(STREET)
)
ACTIVITY_DAY = date(2026, 6, 1)


def profile(**changes: object) -> VolunteerProfile:
    fields: dict[str, object] = {
        "home_area_id": BUILDING_INSIDE,
        "categories": ["resident"],
        "skills": ["general"],
        "birth_year": 1980,
    }
    return VolunteerProfile.model_validate(fields | changes)


def failed(rules: Eligibility, who: VolunteerProfile, scope: str = COMMUNITY) -> list[str]:
    return check_eligibility(rules, scope, who, AREAS, ACTIVITY_DAY)


def test_a_drive_without_rules_takes_anyone() -> None:
    assert failed(Eligibility(), profile(home_area_id=BUILDING_OUTSIDE, birth_year=None)) == []


@pytest.mark.parametrize("scope", [COMMUNITY, STREET, COMMUNITY[:6], BUILDING_INSIDE[:14]])
def test_residents_of_the_scope_at_any_level_are_residents(scope: str) -> None:
    assert failed(Eligibility(residents_only=True), profile(), scope) == []


def test_a_volunteer_living_outside_the_scope_is_not_a_resident() -> None:
    rules = Eligibility(residents_only=True)

    assert failed(rules, profile(home_area_id=BUILDING_OUTSIDE)) == [RESIDENTS_ONLY]


def test_a_home_known_only_to_its_community_is_not_within_a_grid_scope() -> None:
    rules = Eligibility(residents_only=True)

    assert failed(rules, profile(home_area_id=COMMUNITY), BUILDING_INSIDE[:14]) == [RESIDENTS_ONLY]


def test_an_unknown_home_area_is_not_within_the_scope() -> None:
    rules = Eligibility(residents_only=True)

    assert failed(rules, profile(home_area_id="1302039999999999")) == [RESIDENTS_ONLY]


@pytest.mark.parametrize("category", ["party_member", "in_service_party_member"])
def test_party_members_and_in_service_party_members_count_as_party_members(category: str) -> None:
    rules = Eligibility(party_members_only=True)

    assert failed(rules, profile(categories=["resident", category])) == []


@pytest.mark.parametrize("category", ["resident", "student", "company_staff"])
def test_others_are_not_party_members(category: str) -> None:
    rules = Eligibility(party_members_only=True)

    assert failed(rules, profile(categories=[category])) == [PARTY_MEMBERS_ONLY]


@pytest.mark.parametrize(("birth_year", "eligible"), [(2008, True), (2009, False), (1950, True)])
def test_minimum_age_is_the_age_reached_in_the_year_the_activity_starts(
    birth_year: int, eligible: bool
) -> None:
    rules = Eligibility(min_age=18)

    assert failed(rules, profile(birth_year=birth_year)) == ([] if eligible else [MIN_AGE])


def test_an_unknown_birth_year_cannot_prove_a_minimum_age() -> None:
    assert failed(Eligibility(min_age=18), profile(birth_year=None)) == [MIN_AGE]


def test_every_failed_rule_is_named() -> None:
    rules = Eligibility(residents_only=True, party_members_only=True, min_age=60)
    who = profile(home_area_id=BUILDING_OUTSIDE, categories=["student"], birth_year=2005)

    assert failed(rules, who) == [RESIDENTS_ONLY, PARTY_MEMBERS_ONLY, MIN_AGE]


def test_a_registration_event_is_a_profile_too() -> None:
    registered = VolunteerRegistered(
        volunteer_id="v-1",
        home_area_id=BUILDING_OUTSIDE,
        categories=(VolunteerCategory.PARTY_MEMBER,),
        skills=(Skill.GENERAL,),
        birth_year=1990,
        personal=SealedPersonalData(key_id="k", ciphertext="c"),
    )
    rules = Eligibility(residents_only=True, party_members_only=True, min_age=18)

    assert check_eligibility(rules, COMMUNITY, registered, AREAS, ACTIVITY_DAY) == [RESIDENTS_ONLY]


def test_a_general_role_fits_anyone_and_a_skill_role_needs_the_skill() -> None:
    general = Role(role_id="helpers", headcount=10)
    medics = Role(role_id="medics", skill=Skill.FIRST_AID, headcount=2)

    assert fits_role(general, [])
    assert fits_role(medics, [Skill.GENERAL, Skill.FIRST_AID])
    assert not fits_role(medics, [Skill.GENERAL, Skill.COOKING])


def test_profile_knows_party_membership() -> None:
    assert profile(categories=["in_service_party_member"]).is_party_member
    assert not profile(categories=["resident"]).is_party_member
    assert not is_party_member([])
