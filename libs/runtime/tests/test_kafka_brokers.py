"""A bootstrap list reaches the broker client as separate addresses (FastStream takes a
string as one host: "kafka-1:9092,kafka-2:9092" failed to resolve)."""

from __future__ import annotations

from muster_runtime.settings import ServiceSettings


def test_a_comma_separated_bootstrap_is_a_list_of_brokers() -> None:
    settings = ServiceSettings(
        service_name="t", kafka_bootstrap="kafka-1:9092, kafka-2:9092,kafka-3:9092"
    )
    assert settings.kafka_brokers == ["kafka-1:9092", "kafka-2:9092", "kafka-3:9092"]
