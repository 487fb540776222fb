"""A rebuild decodes only the event types the projections declare: the declarations must
cover every type the projections read, or a rebuild would differ from the live models."""

from __future__ import annotations

from muster_contracts.events.registry import event_types
from muster_reporting.domain.funnel import MOVING_EVENT_TYPES, moves_of


def test_the_funnel_makes_no_move_for_any_event_type_it_does_not_declare() -> None:
    undeclared = set(event_types()) - MOVING_EVENT_TYPES
    assert undeclared, "the registry knows more types than the funnel reads"
    for event_type in sorted(undeclared):
        # A type the funnel reads would look into its payload (KeyError) or move someone.
        assert moves_of(event_type, {}) == [], event_type


def test_every_declared_type_is_a_known_event_type() -> None:
    assert set(event_types()) >= MOVING_EVENT_TYPES
