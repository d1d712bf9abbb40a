"""Bundle round trips: whatever BundleWriter is given, BundleReader gives back.

One hypothesis property covers names (any Unicode, empty, with ``/`` and NUL),
sizes from 0 to about 1 MB, every codec choice, dictionaries (none, trained,
given), every alignment, one or two workers, and the entry and archive
metadata; every read path must return the content written.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import randread

NO_TIME = (1980, 1, 1, 0, 0, 0)
TRAINED = randread.train_dictionary(
    (f"record {i}: name=item{i % 17} value={i * 7919 % 1000}\n".encode() * 3 for i in range(300)),
    size=4096,
)
RAW_DICTIONARY = b"common prefix shared by many entries; " * 20

names = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
contents = st.one_of(
    st.binary(max_size=100),
    st.binary(max_size=3000),
    st.text(max_size=2000).map(str.encode),
    # a few large ones, cheap to generate: a short pattern repeated up to ~1 MB
    st.builds(
        lambda pattern, count: pattern * count,
        st.binary(min_size=1, max_size=16),
        st.integers(1, 70_000),
    ),
)
metadata_maps = st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=16), max_size=3)
mtimes = st.one_of(
    st.none(),
    st.integers(-(2**33), 2**33).map(float),
    st.floats(min_value=-1e9, max_value=4e9, allow_nan=False, allow_infinity=False),
)


@st.composite
def entries(draw: st.DrawFn) -> list[tuple[str, bytes, dict[str, object]]]:
    chosen = draw(st.lists(names, max_size=7, unique=True))
    return [
        (
            name,
            draw(contents),
            {
                "mtime": draw(mtimes),
                "mode": draw(st.none() | st.integers(0, 0xFFFF)),
                "metadata": draw(st.none() | metadata_maps),
            },
        )
        for name in chosen
    ]


writer_options = st.fixed_dictionaries(
    {
        "codec": st.sampled_from(["auto", "none", "zstd", "lz4"]),
        "dictionary": st.sampled_from([None, "train", "trained", "raw"]),
        "alignment": st.sampled_from([1 << n for n in range(13)]),
        "workers": st.sampled_from([1, 2]),
        "level": st.sampled_from([1, 3]),
        "comment": st.text(max_size=10),
        "metadata": st.none() | metadata_maps.filter(lambda m: "comment" not in m),
    }
).filter(lambda options: options["codec"] in ("auto", "zstd") or options["dictionary"] is None)


def write(path: Path, files: list[tuple[str, bytes, dict[str, object]]], options: dict) -> None:
    options = dict(options)
    options["dictionary"] = {"trained": TRAINED, "raw": RAW_DICTIONARY}.get(
        options["dictionary"], options["dictionary"]
    )
    with randread.BundleWriter(path, **options) as writer:
        for name, content, extra in files:
            writer.add(name, content, **extra)  # type: ignore[arg-type]
        assert len(writer) == len(files)


def expected_codecs(options: dict, content: bytes) -> set[str]:
    zstd = {"zstd", "zstd-dict"} if options["dictionary"] else {"zstd"}
    codec = options["codec"]
    if codec == "none" or (codec == "auto" and len(content) < 64):
        return {"none"}
    if codec == "auto":
        return {"none"} | zstd
    return {"lz4"} if codec == "lz4" else zstd


def check_info(
    info: randread.BundleEntryInfo, name: str, content: bytes, extra: dict[str, object]
) -> None:
    assert info.filename == name
    assert info.file_size == len(content)
    assert zlib.crc32(content) == info.CRC
    mtime = extra["mtime"]
    if mtime is None:
        assert info.mtime_ns is None
        assert info.mtime is None
        assert info.date_time == NO_TIME
    else:
        assert isinstance(mtime, float)
        assert info.mtime_ns == round(mtime * 1e9)
        assert info.mtime == pytest.approx(mtime, abs=1e-6)
        moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(
            seconds=info.mtime_ns // 10**9
        )
        assert info.date_time == moment.timetuple()[:6]
    assert info.mode == extra["mode"]
    assert info.metadata == (extra["metadata"] or {})
    assert info.comment == info.metadata.get("comment", "").encode()
    assert info.is_dir() == name.endswith("/")


def check_stream(reader: randread.BundleReader, name: str, content: bytes) -> None:
    with reader.open(name) as stream:
        assert stream.seekable()
        assert stream.read(5) == content[:5]
        middle = len(content) // 2
        stream.seek(middle)
        assert stream.read(777) == content[middle : middle + 777]
        assert stream.tell() == min(middle + 777, len(content))
        tail = min(3, len(content))
        stream.seek(-tail, io.SEEK_END)
        assert stream.read() == content[len(content) - tail :]
        stream.seek(0)
        chunks = []
        while chunk := stream.read(4099):
            chunks.append(chunk)
        assert b"".join(chunks) == content


def check_bundle(
    path: Path, files: list[tuple[str, bytes, dict[str, object]]], options: dict
) -> None:
    expected = {name: content for name, content, _ in files}
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.namelist() == [name for name, _, _ in files]
        assert list(reader) == reader.namelist()
        assert len(reader) == len(files)
        assert reader.alignment == options["alignment"]
        assert reader.comment == options["comment"].encode()
        metadata = dict(options["metadata"] or {})
        if options["comment"]:
            metadata["comment"] = options["comment"]
        assert reader.metadata == metadata
        infos = reader.infolist()
        for info, (name, content, extra) in zip(infos, files, strict=True):
            assert name in reader
            assert reader.getinfo(name) == info
            check_info(info, name, content, extra)
            assert info.codec in expected_codecs(options, content)
            assert reader.read(name) == content
            assert reader.read(info) == content
            check_stream(reader, name, content)
            view = reader.view(name)
            assert view.readonly
            assert view == content
            array = reader.as_numpy(name)
            assert not array.flags.writeable
            assert array.tobytes() == content
            if info.codec == "none":
                assert info.compress_size == info.file_size
                assert info.data_offset % options["alignment"] == 0
                if content:
                    # zero-copy: two arrays share the mapping, aligned as asked
                    assert np.shares_memory(array, reader.as_numpy(name))
                    assert array.ctypes.data % options["alignment"] == 0
            elif len(content) > 1:  # (CPython shares every 1-byte bytes object)
                assert not np.shares_memory(array, reader.as_numpy(name))
        assert reader.read_many(list(expected), workers=2) == list(expected.values())
        assert reader.testzip() is None
        if options["dictionary"] in ("trained", "raw") and any(
            info.codec == "zstd-dict" for info in infos
        ):
            assert reader.dictionary == (
                TRAINED if options["dictionary"] == "trained" else RAW_DICTIONARY
            )
    # The same bytes read the same from memory and through positional reads.
    data = path.read_bytes()
    for source, backend in ((data, "mmap"), (path, "pread")):
        with randread.BundleReader(source, backend=backend) as reader:  # type: ignore[arg-type]
            assert reader.read_many(reader.namelist(), workers=1) == list(expected.values())


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(files=entries(), options=writer_options)
def test_everything_written_reads_back(
    files: list[tuple[str, bytes, dict[str, object]]], options: dict
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "round.rrb"
        write(path, files, options)
        check_bundle(path, files, options)
        assert sorted(p.name for p in Path(directory).iterdir()) == ["round.rrb"]


@pytest.mark.parametrize("codec", ["none", "zstd", "lz4", "auto"])
def test_large_entries_every_codec(tmp_path: Path, codec: str) -> None:
    rng = random.Random(3)
    files = [
        ("random", rng.randbytes(1 << 20), {"mtime": None, "mode": None, "metadata": None}),
        (
            "text",
            b"".join(b"line %d\n" % i for i in range(120_000)),
            {"mtime": 0.0, "mode": 0, "metadata": None},
        ),
        ("zeros", bytes(3 << 20), {"mtime": None, "mode": None, "metadata": {"k": "v"}}),
        ("", b"", {"mtime": None, "mode": None, "metadata": None}),
    ]
    options = {
        "codec": codec,
        "dictionary": None,
        "alignment": 4096,
        "workers": 2,
        "level": 1,
        "comment": "",
        "metadata": None,
    }
    path = tmp_path / "large.rrb"
    write(path, files, options)
    check_bundle(path, files, options)


def test_trained_dictionary_is_used_and_stored(tmp_path: Path) -> None:
    rng = random.Random(11)
    files = [
        (
            f"logs/{i:04}.json",
            f'{{"id": {i}, "user": "u{rng.randrange(50)}", "ok": true}}\n'.encode() * 4,
        )
        for i in range(200)
    ]
    path = tmp_path / "trained.rrb"
    with randread.BundleWriter(path, dictionary="train", train_bytes=4096) as writer:
        for name, content in files:
            writer.add(name, content)
        trained = writer.dictionary
    assert trained is not None
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.dictionary == trained
        assert reader.dictionary_size == len(trained)
        assert {info.codec for info in reader.infolist()} == {"zstd-dict"}
        assert [reader.read(name) for name, _ in files] == [content for _, content in files]
