"""The generated district log: valid events of the contracts, and a ground truth that adds up."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from types import SimpleNamespace

import orjson

from muster_cli.bench.eventlog import DistrictLog
from muster_contracts.areas import load_area_tree
from muster_contracts.envelope import EventEnvelope
from muster_contracts.events import decode_payload
from muster_runtime.consumer import decode_records


def test_every_generated_event_is_a_valid_envelope_and_payload_of_the_contracts() -> None:
    log = DistrictLog(load_area_tree(), seed=3)
    wire = list(log.events(600))
    kinds: Counter[str] = Counter()
    for event in wire:
        envelope = EventEnvelope.from_json(event.value)
        decode_payload(envelope.type, envelope.schema_version, envelope.payload)
        kinds[envelope.type] += 1
        assert event.key == envelope.stream_id.encode()
        assert dict(event.headers)["event-type"] == envelope.type.encode()
    assert dict(kinds) == log.truth.events
    assert len(wire) == log.truth.total_events >= 600


def test_the_ground_truth_is_the_sum_of_the_generated_events() -> None:
    log = DistrictLog(load_area_tree(), seed=4)
    payloads = [orjson.loads(e.value) for e in log.events(4000)]
    records = [p["payload"] for p in payloads if p["type"] == "service.record_issued"]
    approved = {
        p["payload"]["activity_id"] for p in payloads if p["type"] == "activity.hours_approved"
    }
    scheduled = {p["payload"]["activity_id"] for p in payloads if p["type"] == "activity.scheduled"}
    beneficiaries = [
        p["payload"]["counts"]
        for p in payloads
        if p["type"] == "activity.beneficiaries_recorded"
        and p["payload"]["activity_id"] in approved
    ]
    assert log.truth.turnouts == len(records)
    assert log.truth.minutes == sum(r["minutes"] for r in records)
    # Held: the approved activities, and their beneficiaries only.
    assert log.truth.beneficiaries == sum(sum(c.values()) for c in beneficiaries)
    assert log.truth.registered == sum(p["type"] == "volunteer.registered" for p in payloads)
    assert log.truth.activities == len(approved)
    assert log.truth.activities_scheduled == len(scheduled - approved) > 0
    assert approved < scheduled


def _record(value: bytes, headers: list[tuple[str, bytes]], offset: int) -> SimpleNamespace:
    return SimpleNamespace(
        value=value, headers=headers, topic="t.events", partition=0, offset=offset, key=b"k"
    )


def test_decoding_skips_unwanted_types_by_header_but_still_catches_poison() -> None:
    log = DistrictLog(load_area_tree(), seed=5)
    wire = list(log.activity())
    records = [_record(e.value, e.headers, n) for n, e in enumerate(wire)]
    records.append(_record(b"not json", [], len(records)))  # no header: decoded, poison

    events, poison = decode_records(tuple(records), {"activity.scheduled"})

    assert [e.envelope.type for e in events] == ["activity.scheduled"]
    assert len(poison) == 1
    everything, _ = decode_records(tuple(records))
    assert len(everything) == len(wire)


def test_the_log_is_recorded_continuously_and_each_activity_in_its_order() -> None:
    """Events recorded at many minutes, as a live log is (not at a few instants a day),
    and an activity scheduled before its check-ins, approved after its check-outs."""
    log = DistrictLog(load_area_tree(), seed=6)
    envelopes = [EventEnvelope.from_json(e.value) for e in log.events(3000)]
    minutes = {e.recorded_at.replace(second=0, microsecond=0) for e in envelopes}
    assert len(minutes) > len(envelopes) / 2
    by_activity: dict[str, dict[str, list[datetime]]] = {}
    for e in envelopes:
        if e.stream_type in ("activity", "attendance"):
            by_activity.setdefault(e.payload["activity_id"], {}).setdefault(e.type, []).append(
                e.recorded_at
            )
    for kinds in by_activity.values():
        assert max(kinds["activity.scheduled"]) < min(kinds["attendance.checked_in"])
        if "activity.hours_approved" not in kinds:  # never approved: no records either
            assert "service.record_issued" not in kinds
            continue
        assert max(kinds["attendance.checked_out"]) < min(kinds["activity.hours_approved"])
        assert max(kinds["activity.hours_approved"]) <= min(kinds["service.record_issued"])
