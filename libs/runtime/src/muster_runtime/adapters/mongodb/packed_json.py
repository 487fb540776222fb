"""Values the store keeps as compressed JSON bytes that nothing queries inside."""

from __future__ import annotations

import zlib
from typing import Any

import orjson


def pack_json(value: Any) -> bytes:
    """A value as JSON compressed (zlib, fastest level): what a store keeps as one value of
    bytes and nothing queries inside.

    Compressed because a store's cost of such a value grows with its bytes (FerretDB keeps
    bytes as base64 text): 25 documents of 130 counts (3,869 bytes of JSON, 582
    compressed) read by `_id`, p50 8.6–8.7 ms as JSON, 4.4–4.5 ms compressed
    (`tools.store_packed_cells`). Compressing and expanding cost tens of microseconds.
    """
    return zlib.compress(orjson.dumps(value), 1)


def unpack_json(data: bytes) -> Any:
    """A value packed by `pack_json`, or stored as plain JSON bytes (as versions before
    compression did: an object or a list, its first byte `{` or `[`, never a zlib
    stream's)."""
    if data[:1] in (b"{", b"["):
        return orjson.loads(data)
    return orjson.loads(zlib.decompress(data))
