"""The document store gives back every number and string exactly as written.

Read models are counters (`$inc` on stored 32- and 64-bit integers, read back and summed)
keyed and labelled by text in any script. The local FerretDB is built with a patch
(deploy/local/ferretdb/patches/0004) that takes the plain decimals and unescaped strings it
stores directly instead of through a JSON decoder each; this checks that integers at and
around the edges of their types, and the values the fast path must leave to the decoder
(doubles, strings with escapes or control characters), come back as they went in, of the
same BSON type.
"""

from __future__ import annotations

from typing import Any

from bson import Int64

from muster_runtime.mongo import Database

INT32_EDGES = [0, 1, -1, 9, 10, -10, 2**31 - 1, -(2**31), 1_000_000, -999_999]
INT64_EDGES = [2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, -(2**63), 10**18, -(10**18)]
DOUBLES = [0.5, -0.25, 1e300, -1e-300, 3.0, 2.0**63]
STRINGS = [
    "",
    "plain",
    "东城区 和平里街道",
    'a "quoted" word',
    "back\\slash",
    "tab\tand\nnewline",
    "<b>&amp;</b>",
    "emoji 🙂",
    "line\u2028separator",
    "nul\x00byte",
]


async def test_numbers_and_strings_round_trip_with_their_types(db: Database) -> None:
    values: dict[str, Any] = {f"i32_{n}": v for n, v in enumerate(INT32_EDGES)}
    values |= {f"i64_{n}": Int64(v) for n, v in enumerate(INT64_EDGES)}
    values |= {f"d_{n}": v for n, v in enumerate(DOUBLES)}
    values |= {f"s_{n}": v for n, v in enumerate(STRINGS)}
    nested = {"children": {"a": dict(values), "b": {"deeper": dict(values)}}}
    await db["round_trip"].insert_one({"_id": "n", **values, **nested})

    stored = await db["round_trip"].find_one({"_id": "n"})

    assert stored is not None
    for document in (stored, stored["children"]["a"], stored["children"]["b"]["deeper"]):
        for name, value in values.items():
            assert document[name] == value, name
            assert type(document[name]) is type(value), name


async def test_increments_cross_the_int32_edge_exactly(db: Database) -> None:
    await db["round_trip"].insert_one({"_id": "c", "count": 2**31 - 2, "down": -(2**31) + 1})

    for _ in range(3):
        await db["round_trip"].update_one({"_id": "c"}, {"$inc": {"count": 1, "down": -1}})

    stored = await db["round_trip"].find_one({"_id": "c"})
    assert stored is not None
    assert stored["count"] == 2**31 + 1
    assert stored["down"] == -(2**31) - 2
