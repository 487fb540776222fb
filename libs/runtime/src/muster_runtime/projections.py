"""Idempotent consumers: every effect is stored together with what was already applied.

The vocabulary every consumer shares: `ConsumedEvent` (an event with where it was read),
`DocumentChange` and `apply_in_memory` (what an event changes of its stream's document, in
the update subset every `ports.versioned_documents.VersionedDocuments` adapter honours),
and the counting of contributions above a cell's marks (`count_above_marks`). Nothing here
knows a store: the counter cells tuned for the document store are in
`adapters.mongodb.counter_cells`, its bulk writes in `adapters.mongodb.bulk_documents`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import DomainEvent, decode_payload
from muster_runtime.ports.versioned_documents import Document, VersionedDocuments


@dataclass(frozen=True)
class ConsumedEvent:
    """An event as read from Kafka, with where it came from."""

    envelope: EventEnvelope
    topic: str
    partition: int
    offset: int

    @functools.cached_property
    def source(self) -> str:
        return source_of(self.topic, self.partition)


def source_of(topic: str, partition: int) -> str:
    """A topic-partition as a name for stored marks and windows."""
    # Field names in MongoDB may not contain dots; topic names do.
    return f"{topic}:{partition}".replace(".", "_")


def batch_offsets(records: Iterable[Any]) -> dict[str, range]:
    """Per source partition, the offsets a Kafka batch's records span."""
    spans: dict[str, range] = {}
    for record in records:
        source = source_of(record.topic, record.partition)
        span = spans.get(source)
        spans[source] = (
            range(record.offset, record.offset + 1)
            if span is None
            else range(min(span.start, record.offset), max(span.stop, record.offset + 1))
        )
    return spans


E = TypeVar("E", bound=DomainEvent)


def of_type(events: Iterable[ConsumedEvent], kind: type[E]) -> Iterator[tuple[ConsumedEvent, E]]:
    """The consumed events of one type, each with its payload decoded (others undecoded)."""
    for consumed in events:
        envelope = consumed.envelope
        if envelope.type != kind.event_type:
            continue
        event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        assert isinstance(event, kind)
        yield consumed, event


@dataclass(frozen=True)
class DocumentChange:
    """What one event changes of its stream's document: the store's update, and whether
    the event brings the document into being. `setting` says it without the update's
    operators."""

    update: Mapping[str, Any]
    creates: bool = False

    @classmethod
    def setting(
        cls,
        fields: Mapping[str, Any],
        *,
        adding: Mapping[str, int] | None = None,
        creates: bool = False,
    ) -> DocumentChange:
        """The change that sets `fields` and adds to the counts of `adding` (a zero adds
        nothing); no field and nothing added: an empty change, which changes nothing."""
        update: dict[str, Any] = {}
        if fields:
            update["$set"] = dict(fields)
        if added := {name: count for name, count in (adding or {}).items() if count}:
            update["$inc"] = added
        return cls(update, creates)


async def apply_document_changes(
    documents: VersionedDocuments,
    events: Iterable[ConsumedEvent],
    types: frozenset[str],
    change_of: Callable[[DomainEvent], DocumentChange | None],
    key: str,
) -> None:
    """Apply each event of `types` to the document its payload's `key` names, once per
    stream version: the change is `change_of(event)` (None or an empty update: none)."""
    for consumed in events:
        envelope = consumed.envelope
        if envelope.type not in types:
            continue
        event = decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        change = change_of(event)
        if change is None or not change.update:
            continue
        await documents.apply(
            envelope.payload[key], envelope.stream_version, change.update, create=change.creates
        )


def apply_in_memory(doc: Document, update: Mapping[str, Any]) -> Document:
    """`doc` as the store would leave it after `update` (`$set`, `$inc`, `$push` of one
    value, `$addToSet` of one value or of `$each`; dotted paths create what they pass
    through).

    Raises:
        ValueError: the update uses anything else.
    """
    for operator, fields in update.items():
        if operator not in ("$set", "$inc", "$push", "$addToSet"):
            raise ValueError(f"{operator} cannot be applied in memory")
        for dotted, value in fields.items():
            *parents, leaf = dotted.split(".")
            target = doc
            for part in parents:
                target = target.setdefault(part, {})
                if not isinstance(target, dict):
                    raise ValueError(f"{dotted} passes through a value that is not a document")
            if operator == "$set":
                target[leaf] = value
            elif operator == "$inc":
                target[leaf] = target.get(leaf, 0) + value
            elif operator == "$addToSet":
                each = (
                    value["$each"] if isinstance(value, Mapping) and "$each" in value else [value]
                )
                kept = list(target.get(leaf, []))
                for item in each:
                    if item not in kept:
                        kept.append(item)
                target[leaf] = kept
            elif isinstance(value, Mapping) and any(str(k).startswith("$") for k in value):
                raise ValueError(f"$push modifiers ({dotted}) cannot be applied in memory")
            else:
                target[leaf] = [*target.get(leaf, []), value]
    return doc


class Position(Protocol):
    """Where a counted event was read: all a counter cell needs to count it once."""

    @property
    def source(self) -> str: ...

    @property
    def offset(self) -> int: ...


# (event, cell id, increments, fields set on insert)
Contribution = tuple[Position, str, Mapping[str, int], Mapping[str, Any]]


class Tally(Protocol):
    """A cell being counted: its counts by dotted name and its marks per source."""

    @property
    def counts(self) -> dict[str, int]: ...

    @property
    def hwm(self) -> dict[str, int]: ...


def count_above_marks(
    contributions: Iterable[Contribution], cells: Mapping[str, Tally]
) -> set[str]:
    """Count each contribution into its cell (all in `cells`) above the cell's marks as they
    were before this call, as a live `apply` does: an event's several contributions to one
    cell all count (no need to merge them first), an event counted by an earlier call not
    at all. Returns the cells whose counts changed."""
    raised: dict[tuple[str, str], tuple[Tally, int]] = {}
    for event, cell_id, increments, _ in contributions:
        cell = cells[cell_id]
        source, offset = event.source, event.offset
        if offset <= cell.hwm.get(source, -1):
            continue
        counts = cell.counts
        for name, amount in increments.items():
            counts[name] = counts.get(name, 0) + amount
        key = (cell_id, source)
        if offset > raised.get(key, (cell, -1))[1]:
            raised[key] = (cell, offset)
    for (_, source), (cell, offset) in raised.items():
        cell.hwm[source] = offset
    return {cell_id for cell_id, _ in raised}


def add_nested(total: dict[str, Any], counts: Mapping[str, int]) -> None:
    """Add counts named by dotted paths (`children.a.minutes`) into nested `total`."""
    for dotted, amount in counts.items():
        *parents, leaf = dotted.split(".")
        target = total
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = target.get(leaf, 0) + amount
