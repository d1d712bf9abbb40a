"""Metadata maps (randread.bundle.format): the encoding round trips, malformed maps are refused."""

from __future__ import annotations

import struct

import pytest

import randread
from randread.bundle import format as fmt
from tests.bundlebuilder import metadata_map


def _map(*parts: bytes | int) -> bytes:
    return b"".join(part if isinstance(part, bytes) else struct.pack("<I", part) for part in parts)


BAD_MAPS = {
    "too short for a count": b"\x01\x00",
    "count larger than the map": _map(1000, 1, b"k", 1, b"v"),
    "count 2**32-1": _map(0xFFFFFFFF),
    "key length past the end": _map(1, 100, b"k"),
    "value length past the end": _map(1, 1, b"k", 0xFFFFFFFF, b"v"),
    "empty key": _map(1, 0, 1, b"v", 0),
    "repeated key": _map(2, 1, b"k", 1, b"v", 1, b"k", 1, b"w"),
    "bytes left over": _map(1, 1, b"k", 1, b"v") + b"\x00",
    "key not UTF-8": _map(1, 1, b"\xff", 1, b"v"),
    "value not UTF-8": _map(1, 1, b"k", 2, b"\xc3("),
    "pairs missing": _map(2, 1, b"k", 1, b"v"),
}


@pytest.mark.parametrize("case", sorted(BAD_MAPS), ids=str)
def test_malformed_metadata_maps(case: str) -> None:
    with pytest.raises(randread.BundleFormatError, match=r"^the place: metadata map is malformed"):
        fmt.decode_metadata(BAD_MAPS[case], "the place")


def test_metadata_maps_round_trip() -> None:
    pairs = {"comment": "ünïcode", "k": "", "content-type": "text/plain"}
    assert fmt.decode_metadata(fmt.encode_metadata(pairs), "here") == pairs
    assert fmt.decode_metadata(metadata_map(pairs), "here") == pairs
    assert fmt.encode_metadata({}) == b""
    assert fmt.decode_metadata(b"", "here") == {}
