"""Who may sign up for a drive and take a role: rules the volunteer and dispatch sides share.

The volunteer side lists "drives that fit me" with them; dispatch decides sign-ups with them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from muster_contracts.areas import AreaTree
from muster_contracts.events.drives import Eligibility, Role
from muster_contracts.events.volunteer import Skill, VolunteerCategory

RESIDENTS_ONLY = "residents_only"
PARTY_MEMBERS_ONLY = "party_members_only"
MIN_AGE = "min_age"
ROLE_SKILL = "role_skill"

PARTY_CATEGORIES = frozenset(
    {VolunteerCategory.PARTY_MEMBER, VolunteerCategory.IN_SERVICE_PARTY_MEMBER}
)


class EligibilityProfile(Protocol):
    """What the rules look at; `VolunteerRegistered` and `VolunteerProfile` both fit."""

    @property
    def home_area_id(self) -> str: ...

    @property
    def categories(self) -> Sequence[VolunteerCategory]: ...

    @property
    def birth_year(self) -> int | None: ...


class VolunteerProfile(BaseModel):
    """A volunteer as another context knows them: no personal data, only what rules need."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    home_area_id: str = Field(min_length=4, max_length=16)
    categories: tuple[VolunteerCategory, ...] = ()
    skills: tuple[Skill, ...] = (Skill.GENERAL,)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)

    @property
    def is_party_member(self) -> bool:
        return is_party_member(self.categories)


def is_party_member(categories: Collection[VolunteerCategory]) -> bool:
    """Party members and in-service party members reporting to their community (双报到)."""
    return not PARTY_CATEGORIES.isdisjoint(categories)


def age_in_year(birth_year: int, on_date: date) -> int:
    """The age a volunteer reaches in the year of `on_date`.

    Only the birth year is known, so the age is counted the way a year-based roster does.
    """
    return on_date.year - birth_year


def check_eligibility(
    eligibility: Eligibility,
    scope_area_id: str,
    volunteer_profile: EligibilityProfile,
    areas: AreaTree,
    on_date: date,
) -> list[str]:
    """The names of the rules a volunteer fails for a drive; empty when eligible.

    Args:
        eligibility: the drive's rules.
        scope_area_id: the drive's area scope (any level).
        volunteer_profile: home area, categories and birth year of the volunteer.
        areas: the area tree the scope and home area belong to.
        on_date: the day age is measured on (the activity's first day).
    """
    failed: list[str] = []
    if eligibility.residents_only and not _lives_within(
        volunteer_profile.home_area_id, scope_area_id, areas
    ):
        failed.append(RESIDENTS_ONLY)
    if eligibility.party_members_only and not is_party_member(volunteer_profile.categories):
        failed.append(PARTY_MEMBERS_ONLY)
    if eligibility.min_age is not None:
        birth_year = volunteer_profile.birth_year
        # An unknown birth year cannot prove the age, so it fails rather than passes.
        if birth_year is None or age_in_year(birth_year, on_date) < eligibility.min_age:
            failed.append(MIN_AGE)
    return failed


def fits_role(role: Role, skills: Collection[Skill]) -> bool:
    """A general role fits anyone; a skill role needs a volunteer with that skill."""
    return role.skill is Skill.GENERAL or role.skill in skills


def _lives_within(home_area_id: str, scope_area_id: str, areas: AreaTree) -> bool:
    # A home area the tree does not know cannot be shown to lie within the scope.
    if home_area_id not in areas or scope_area_id not in areas:
        return False
    return areas.is_within(home_area_id, scope_area_id)
