"""Values packed for the store: compressed, and read back whether compressed or not."""

from __future__ import annotations

import orjson
import pytest

from muster_runtime.adapters.mongodb.packed_json import pack_json, unpack_json

VALUES = [
    {"minutes": 90, "children.s01.minutes": 45, "children.s01.category.elderly.turnouts": 2},
    [{"c": "district@all", "m": "2026-11-27T10:31", "s": "t:0", "o": 7, "k": ["a"], "v": [1]}],
    {},
    [],
]


@pytest.mark.parametrize("value", VALUES)
def test_a_packed_value_comes_back_the_same(value: object) -> None:
    assert unpack_json(pack_json(value)) == value


@pytest.mark.parametrize("value", VALUES)
def test_a_value_stored_as_plain_json_is_read_as_it_is(value: object) -> None:
    assert unpack_json(orjson.dumps(value)) == value


def test_counts_with_repeated_names_pack_smaller_than_their_json() -> None:
    counts = {
        f"children.s{j:02d}.category.c{k}.minutes": j * k for j in range(12) for k in range(8)
    }
    assert len(pack_json(counts)) * 3 < len(orjson.dumps(counts))
