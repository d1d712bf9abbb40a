"""Shared helpers of the Sentry tests: bundles written to disk, converted, and looked up."""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st

import randread

if TYPE_CHECKING:
    from pathlib import Path

    from randread import SourceBundle
    from tests import sentrybuilder as sb

RAW_ERRORS = (KeyError, IndexError, struct.error, UnicodeDecodeError, json.JSONDecodeError)


def write(tmp_path: Path, data: bytes, name: str = "bundle.zip") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def converted(tmp_path: Path, data: bytes, **options: Any) -> Path:
    source = write(tmp_path, data, "in.zip")
    target = tmp_path / "out.rrb"
    randread.convert(source, target, overwrite=True, **options)
    return target


def lookups(bundle: SourceBundle, files: list[sb.File]) -> list[object]:
    """Every lookup the tests compare between a zip and its conversion."""
    answers: list[object] = []
    for file in files:
        info = file.info or {}
        answers.append(bundle.by_name(file.name))
        if "path" in info:
            answers.append(bundle.by_path(info["path"]))
        if info.get("url"):
            url = info["url"]
            answers.append(bundle.by_url(url))
            answers.append(bundle.by_url("https://example.com" + url.removeprefix("~") + "?v=1#L1"))
            record = bundle.by_url(url)
            assert record is not None
            answers.append(bundle.source_map_for(record))
        identifier = {key.lower(): value for key, value in info.get("headers", {}).items()}.get(
            "debug-id"
        )
        if identifier is not None:
            answers.append(bundle.by_debug_id(identifier, info["type"]))
    return answers


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
