"""`muster topics` creates and shows every topic the services use: found from the
services themselves, so a consuming service cannot be left out of the list."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

from muster_contracts.topology import CONTEXTS, STREAM_CONTEXTS, event_topic, revocation_topic
from muster_runtime.topics import all_topics, dead_letter_topic

PREFIX = "muster"


def consuming_services() -> dict[str, tuple[str, ...]]:
    """Each installed service whose bootstrap consumes events, with what it consumes."""
    found = {}
    for module in pkgutil.iter_modules():
        name = module.name
        if not name.startswith("muster_") or importlib.util.find_spec(name) is None:
            continue
        if importlib.util.find_spec(f"{name}.bootstrap") is None:
            continue
        consumes = getattr(importlib.import_module(f"{name}.bootstrap"), "CONSUMES", ())
        if consumes:
            found[name.removeprefix("muster_")] = tuple(consumes)
    return found


def test_every_service_that_consumes_has_its_dead_letters_listed() -> None:
    services = consuming_services()
    assert {"volunteer", "dispatch", "reporting", "notify"} <= set(services)

    names = all_topics(PREFIX)
    letters = {n for n in names if n.endswith(".dead-letter")}
    assert letters == {dead_letter_topic(PREFIX, s) for s in services}


def test_every_context_a_service_consumes_or_publishes_has_its_event_topic_listed() -> None:
    names = all_topics(PREFIX)
    consumed = {c for contexts in consuming_services().values() for c in contexts}
    published = set(STREAM_CONTEXTS.values())
    assert {event_topic(PREFIX, c) for c in consumed | published} <= set(names)
    assert {event_topic(PREFIX, c) for c in CONTEXTS} <= set(names)
    assert revocation_topic(PREFIX) in names
    assert len(names) == len(set(names))
