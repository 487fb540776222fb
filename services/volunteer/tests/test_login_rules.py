"""Login rules as specifications: which login speaks for which volunteer, and how an
invitation's code binds one exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from muster_contracts.areas import AreaLevel, load_area_tree
from muster_contracts.envelope import Actor, EventEnvelope, Role
from muster_contracts.events import (
    DomainEvent,
    LoginBinding,
    SealedPersonalData,
    VolunteerErased,
    VolunteerInvited,
    VolunteerLoginBound,
    VolunteerLoginUnbound,
    VolunteerRegistered,
    decode_payload,
)
from muster_contracts.logins import login_change
from muster_runtime.ports.event_store import Stream
from muster_volunteer.application.registration import fold
from muster_volunteer.domain.claim_codes import (
    ALPHABET,
    ClaimCodeFormatError,
    claim_code_digest,
    new_claim_code,
    normalise_claim_code,
)
from muster_volunteer.domain.volunteer import (
    LoginRefusal,
    LoginRefusedError,
    RegisterVolunteer,
    Volunteer,
    VolunteerRuleError,
    claim,
    erase,
    evolve,
    invite,
    register,
)

AREAS = load_area_tree()
BUILDING = AREAS.at_level(AreaLevel.BUILDING)[0].id
SEALED = SealedPersonalData(key_id="v-1", ciphertext="opaque")
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
FORM = RegisterVolunteer.model_validate(
    {"name": "王芳", "phone": "13800138000", "home_area_id": BUILDING, "categories": ["resident"]}
)


def given(*events: DomainEvent) -> Volunteer:
    state = Volunteer("v-1")
    for event in events:
        state = evolve(state, event)
    return state


def registered_by_organiser() -> list[DomainEvent]:
    return register(Volunteer("v-1"), FORM, SEALED, AREAS)


def invited(invitation_id: str = "inv-1", expires_at: datetime = NOW + WEEK) -> VolunteerInvited:
    return VolunteerInvited(volunteer_id="v-1", invitation_id=invitation_id, expires_at=expires_at)


def bound(subject: str, invitation_id: str | None = "inv-1") -> VolunteerLoginBound:
    return VolunteerLoginBound(
        volunteer_id="v-1",
        subject=subject,
        binding=LoginBinding.INVITATION if invitation_id else LoginBinding.REGISTRATION,
        invitation_id=invitation_id,
    )


def refusal(decide: object) -> LoginRefusal:
    assert callable(decide)
    with pytest.raises(LoginRefusedError) as refused:
        decide()
    return refused.value.refusal


# Registration


def test_an_organisers_registration_binds_no_login() -> None:
    events = registered_by_organiser()

    assert [type(e) for e in events] == [VolunteerRegistered]
    assert given(*events).login is None


def test_a_volunteer_registering_themself_binds_their_login_in_the_same_step() -> None:
    events = register(Volunteer("v-1"), FORM, SEALED, AREAS, login="idp|alice")

    assert events[1] == VolunteerLoginBound(
        volunteer_id="v-1", subject="idp|alice", binding=LoginBinding.REGISTRATION
    )
    assert given(*events).login == "idp|alice"


# Invitations


def test_an_organiser_invites_a_volunteer_without_a_login() -> None:
    state = given(*registered_by_organiser())

    assert invite(state, "inv-1", NOW + WEEK) == [invited()]
    assert given(*registered_by_organiser(), invited()).invitation_id == "inv-1"


def test_a_volunteer_with_a_login_cannot_be_invited() -> None:
    state = given(*registered_by_organiser(), invited(), bound("idp|alice"))

    assert (
        refusal(lambda: invite(state, "inv-2", NOW + WEEK)) is LoginRefusal.VOLUNTEER_ALREADY_BOUND
    )


def test_an_erased_volunteer_cannot_be_invited() -> None:
    state = given(
        *registered_by_organiser(), VolunteerErased(volunteer_id="v-1", requested_by="admin")
    )

    assert refusal(lambda: invite(state, "inv-1", NOW + WEEK)) is LoginRefusal.ERASED


def test_nobody_invites_a_volunteer_who_does_not_exist() -> None:
    with pytest.raises(VolunteerRuleError):
        invite(Volunteer("v-1"), "inv-1", NOW + WEEK)


# Claims


def test_a_login_claims_the_current_invitation_and_then_speaks_for_the_volunteer() -> None:
    state = given(*registered_by_organiser(), invited())

    events = claim(state, "inv-1", "idp|alice", NOW, login_speaks_for=None)

    assert events == [bound("idp|alice")]
    assert given(*registered_by_organiser(), invited(), *events).login == "idp|alice"


def test_a_code_binds_once_even_for_the_login_that_claimed_it() -> None:
    state = given(*registered_by_organiser(), invited(), bound("idp|alice"))

    for login in ("idp|bob", "idp|alice"):
        refused = refusal(lambda login=login: claim(state, "inv-1", login, NOW, None))
        assert refused is LoginRefusal.INVITATION_USED


def test_a_newer_invitation_supersedes_the_older_code() -> None:
    state = given(*registered_by_organiser(), invited("inv-1"), invited("inv-2"))

    assert refusal(lambda: claim(state, "inv-1", "idp|bob", NOW, None)) is (
        LoginRefusal.INVITATION_SUPERSEDED
    )
    assert claim(state, "inv-2", "idp|bob", NOW, None) == [bound("idp|bob", "inv-2")]


@pytest.mark.parametrize(
    ("now", "works"),
    [(NOW + WEEK - timedelta(seconds=1), True), (NOW + WEEK, False), (NOW + 2 * WEEK, False)],
)
def test_a_code_works_until_its_invitation_expires(now: datetime, works: bool) -> None:
    state = given(*registered_by_organiser(), invited(expires_at=NOW + WEEK))

    if works:
        assert claim(state, "inv-1", "idp|bob", now, None)
    else:
        assert refusal(lambda: claim(state, "inv-1", "idp|bob", now, None)) is (
            LoginRefusal.INVITATION_EXPIRED
        )


def test_a_login_that_speaks_for_another_volunteer_cannot_claim() -> None:
    state = given(*registered_by_organiser(), invited())

    assert refusal(lambda: claim(state, "inv-1", "idp|alice", NOW, "v-2")) is (
        LoginRefusal.LOGIN_ALREADY_BOUND
    )


def test_a_volunteer_bound_to_another_login_cannot_be_claimed() -> None:
    # Bound by their own registration, then invited through a race the stream allows.
    state = given(*registered_by_organiser(), bound("idp|alice", None), invited("inv-2"))

    assert refusal(lambda: claim(state, "inv-2", "idp|bob", NOW, None)) is (
        LoginRefusal.VOLUNTEER_ALREADY_BOUND
    )


def test_an_erased_volunteer_cannot_be_claimed() -> None:
    erased = VolunteerErased(volunteer_id="v-1", requested_by="admin")
    state = given(*registered_by_organiser(), invited(), erased)

    assert refusal(lambda: claim(state, "inv-1", "idp|bob", NOW, None)) is LoginRefusal.ERASED


# Erasure


def test_erasure_unbinds_the_login_before_erasing() -> None:
    state = given(*registered_by_organiser(), invited(), bound("idp|alice"))

    events = erase(state, "volunteer")

    assert events == [
        VolunteerLoginUnbound(volunteer_id="v-1", subject="idp|alice", reason="erased"),
        VolunteerErased(volunteer_id="v-1", requested_by="volunteer"),
    ]
    assert given(*registered_by_organiser(), invited(), bound("idp|alice"), *events).login is None


def test_erasing_a_volunteer_without_a_login_unbinds_nothing() -> None:
    events = erase(given(*registered_by_organiser()), "admin")

    assert [type(e) for e in events] == [VolunteerErased]


# Claim codes


def test_a_code_is_sixteen_characters_of_crockford_base32_in_four_groups() -> None:
    code = new_claim_code()

    groups = code.split("-")
    assert [len(g) for g in groups] == [4, 4, 4, 4]
    assert all(c in ALPHABET for c in "".join(groups))
    assert len({new_claim_code() for _ in range(1000)}) == 1000


def test_typing_forgives_case_separators_and_look_alike_letters() -> None:
    assert normalise_claim_code(" 7kq2 m9xd-4hrt_pv3a ") == "7KQ2M9XD4HRTPV3A"
    assert normalise_claim_code("OIL0-0000-0000-0000") == "0110000000000000"
    key = b"k"
    assert claim_code_digest(key, "7kq2-m9xd-4hrt-pv3a") == claim_code_digest(
        key, "7KQ2M9XD4HRTPV3A"
    )


@pytest.mark.parametrize(
    "typed", ["7KQ2-M9XD-4HRT", "7KQ2-M9XD-4HRT-PV3A-X", "UUUU-0000-0000-0000"]
)
def test_what_cannot_be_a_code_is_refused(typed: str) -> None:
    with pytest.raises(ClaimCodeFormatError):
        normalise_claim_code(typed)


def test_a_codes_digest_depends_on_the_key() -> None:
    assert claim_code_digest(b"one", "7KQ2M9XD4HRTPV3A") != claim_code_digest(
        b"two", "7KQ2M9XD4HRTPV3A"
    )


# What the service folds and what any consumer of the topic derives agree


def envelopes(*steps: tuple[Actor, DomainEvent]) -> Stream:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    return Stream(
        "volunteer-v-1",
        len(steps),
        [
            EventEnvelope(
                event_id=uuid4(),
                type=event.event_type,
                schema_version=1,
                stream_id="volunteer-v-1",
                stream_type="volunteer",
                stream_version=n,
                position=n,
                occurred_at=at,
                recorded_at=at,
                correlation_id=uuid4(),
                actor=actor,
                payload=event.model_dump(mode="json"),
            )
            for n, (actor, event) in enumerate(steps, start=1)
        ],
    )


def consumer_view(stream: Stream) -> str | None:
    """The login a consumer of the topic finds speaking for v-1, by `login_change` alone."""
    login = None
    for envelope in stream.events:
        event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        change = login_change(envelope, event)
        if change is not None:
            login = change.subject if change.bound else None
    return login


ORGANISER = Actor(subject="organiser-li", role=Role.ORGANISER)
ALICE = Actor(subject="idp|alice", role=Role.VOLUNTEER)
ADMIN = Actor(subject="admin-zhao", role=Role.ADMIN)


@pytest.mark.parametrize(
    "steps",
    [
        [(ORGANISER, e) for e in registered_by_organiser()],
        [
            (ORGANISER, registered_by_organiser()[0]),
            (ORGANISER, invited()),
            (ALICE, bound("idp|alice")),
        ],
        [(ALICE, e) for e in register(Volunteer("v-1"), FORM, SEALED, AREAS, login="idp|alice")],
        # Registered by the volunteer before bindings were events; erased then, or now.
        [(ALICE, registered_by_organiser()[0])],
        [
            (ALICE, registered_by_organiser()[0]),
            (ADMIN, VolunteerErased(volunteer_id="v-1", requested_by="admin")),
        ],
        [
            (ALICE, registered_by_organiser()[0]),
            *[
                (ADMIN, e)
                for e in erase(
                    fold("v-1", envelopes((ALICE, registered_by_organiser()[0]))), "admin"
                )
            ],
        ],
    ],
    ids=["organiser", "claimed", "self-registered", "older", "older-erased", "erased"],
)
def test_the_service_and_the_topics_consumers_agree_on_the_login(
    steps: list[tuple[Actor, DomainEvent]],
) -> None:
    stream = envelopes(*steps)

    assert fold("v-1", stream).login == consumer_view(stream)
