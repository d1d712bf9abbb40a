"""ZipReader: zipfile compatibility, the formats it reads, closing, threads, fork, extraction."""

from __future__ import annotations

import copy
import io
import itertools
import multiprocessing
import os
import pickle
import random
import sys
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import randread
from randread.zip import methods
from tests.conftest import run_threads
from tests.zipbuilder import Archive, Entry

ZIP64_FIELDS = ("uncompressed", "compressed", "offset", "disk")


def make_zip(
    files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, **kwargs: object
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method, **kwargs) as archive:  # type: ignore[arg-type]
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- zipfile compatibility -----------------------------------------------------

INFO_ATTRIBUTES = (
    "filename",
    "orig_filename",
    "file_size",
    "compress_size",
    "compress_type",
    "CRC",
    "date_time",
    "comment",
    "extra",
    "external_attr",
    "internal_attr",
    "header_offset",
    "flag_bits",
    "create_system",
    "create_version",
    "extract_version",
    "volume",
)

names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\\"),
    min_size=1,
    max_size=30,
)
contents = st.one_of(
    st.binary(max_size=5000),
    st.builds(lambda b, n: b * n, st.binary(min_size=1, max_size=10), st.integers(1, 20_000)),
)
zip_methods = st.sampled_from(
    [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
)


@st.composite
def zipfile_archives(draw: st.DrawFn) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # zipfile cannot read back a comment holding an EOCD signature (randread
        # can: see test_comments_containing_an_end_of_central_directory_signature).
        archive.comment = draw(st.binary(max_size=100).filter(lambda c: b"PK\x05\x06" not in c))
        for name in draw(st.lists(names, max_size=8, unique=True)):
            info = zipfile.ZipInfo(
                name, draw(st.sampled_from([(1980, 1, 1, 0, 0, 0), (2024, 2, 29, 23, 59, 58)]))
            )
            info.compress_type = draw(zip_methods)
            info.comment = draw(st.binary(max_size=20))
            info.external_attr = draw(st.integers(0, 0xFFFFFFFF))
            with archive.open(info, "w", force_zip64=draw(st.booleans())) as out:
                out.write(draw(contents))
    data = buffer.getvalue()
    # zipfile takes the 20 bytes before the EOCD for a zip64 locator when they
    # start with its signature, whatever they belong to (an entry's attributes,
    # name or comment), and then cannot read the archive.
    end = data.rindex(b"PK\x05\x06")
    assume(data[end - 20 : end - 16] != b"PK\x06\x07")
    return data


def assert_same_as_zipfile(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as reference, randread.ZipReader(data) as reader:
        assert reader.namelist() == reference.namelist()
        assert reader.comment == reference.comment
        assert len(reader) == len(reference.namelist())
        for ours, theirs in zip(reader.infolist(), reference.infolist(), strict=True):
            assert isinstance(ours, zipfile.ZipInfo)
            for attribute in INFO_ATTRIBUTES:
                assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
            assert ours.is_dir() == theirs.is_dir()
            expected = reference.read(theirs)
            assert reader.read(ours) == expected
            with reader.open(ours) as stream:
                assert stream.read() == expected
            buffer = bytearray(len(expected) + 3)
            assert reader.read_into(ours, buffer) == len(expected)
            assert buffer[: len(expected)] == expected
        assert reader.testzip() is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=zipfile_archives())
def test_matches_zipfile_on_archives_zipfile_writes(data: bytes) -> None:
    assert_same_as_zipfile(data)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=zipfile_archives())
def test_plain_zlib_and_fast_backends_agree(
    data: bytes, monkeypatch_module: pytest.MonkeyPatch
) -> None:
    with randread.ZipReader(data) as reader:
        fast = [reader.read(name) for name in reader.namelist()]
    with monkeypatch_module.context() as patch:
        patch.setattr(methods, "_libdeflate", None)
        patch.setattr(methods, "_isal_zlib", None)
        with randread.ZipReader(data) as reader:
            assert [reader.read(info) for info in reader.infolist()] == fast
            for info, expected in zip(reader.infolist(), fast, strict=True):
                with reader.open(info) as stream:
                    assert stream.read() == expected


@pytest.fixture(scope="module")
def monkeypatch_module() -> pytest.MonkeyPatch:
    return pytest.MonkeyPatch()


def test_getinfo_read_open_by_name_and_missing_names() -> None:
    data = make_zip({"a.txt": b"alpha", "dir/": b"", "dir/b.txt": b"beta" * 1000})
    with randread.ZipReader(data) as reader:
        assert "a.txt" in reader
        assert "nope" not in reader
        assert list(reader) == ["a.txt", "dir/", "dir/b.txt"]
        assert reader.getinfo("dir/").is_dir()
        assert reader.read("dir/b.txt") == b"beta" * 1000
        with pytest.raises(KeyError, match="nope"):
            reader.getinfo("nope")
        with pytest.raises(KeyError):
            reader.read("nope")
        with pytest.raises(TypeError, match="ZipInfo"):
            reader.read(42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode"):
            reader.open("a.txt", "w")
        # A ZipInfo from zipfile works too.
        reference = zipfile.ZipFile(io.BytesIO(data))
        assert reader.read(reference.getinfo("a.txt")) == b"alpha"


def test_duplicate_names_keep_every_entry() -> None:
    data = Archive([Entry("same", b"first"), Entry("same", b"second")]).build()
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == ["same", "same"]
        assert reader.read("same") == b"second"  # the last one, as zipfile
        first, second = reader.infolist()
        assert reader.read(first) == b"first"
        assert reader.read(second) == b"second"


def test_open_streams_seek_and_have_their_own_positions() -> None:
    payload = bytes(random.Random(5).getrandbits(8) for _ in range(300_000))
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        data = make_zip({"big": payload}, method)
        with randread.ZipReader(data) as reader:
            first = reader.open("big")
            second = reader.open("big")
            assert first.seekable()
            assert first.read(1000) == payload[:1000]
            assert second.read(10) == payload[:10]
            first.seek(200_000)
            assert first.read(5) == payload[200_000:200_005]
            first.seek(-100, io.SEEK_END)
            assert first.read() == payload[-100:]
            first.seek(50)  # backwards: decompression restarts
            assert first.read(50) == payload[50:100]
            assert first.tell() == 100
            assert second.read() == payload[10:]
            first.close()
            second.close()


def test_entry_readat_is_zero_copy_for_stored_entries(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"s": b"stored data" * 100, "d": b"x" * 1000}, zipfile.ZIP_STORED))
    with randread.ZipReader(path) as reader:
        section = reader.entry_readat("s")
        assert section.size == 1100
        assert section.read_at(0, 11) == b"stored data"
        view = section.view_at(11, 11)
        assert view.tobytes() == b"stored data"
        assert view.readonly
    deflated = make_zip({"d": b"x" * 1000})
    with randread.ZipReader(deflated) as reader:
        with pytest.raises(randread.UnsupportedFeatureError, match="stored"):
            reader.entry_readat("d")


def test_read_into_checks_the_buffer() -> None:
    data = make_zip({"a": b"12345"})
    with randread.ZipReader(data) as reader:
        with pytest.raises(ValueError, match="too small"):
            reader.read_into("a", bytearray(4))
        with pytest.raises(TypeError, match="writable"):
            reader.read_into("a", b"123456")


# -- formats -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [frozenset(c) for n in range(1, 5) for c in itertools.combinations(ZIP64_FIELDS, n)],
    ids=lambda fields: "+".join(sorted(fields)),
)
def test_zip64_extra_field_in_every_combination(fields: frozenset[str]) -> None:
    entries = [
        Entry("before", b"b" * 100),
        Entry("wide", b"hello zip64 " * 50, zip64=fields),
        Entry("after", b"a" * 100, method=0),
    ]
    with randread.ZipReader(Archive(entries).build()) as reader:
        assert reader.read("wide") == b"hello zip64 " * 50
        info = reader.getinfo("wide")
        assert info.file_size == 600
        assert reader.read("after") == b"a" * 100


@pytest.mark.parametrize("zip64_end", [False, True])
@pytest.mark.parametrize("descriptor", ["32", "64"])
@pytest.mark.parametrize("signature", [True, False])
@pytest.mark.parametrize("method", [0, 8])
def test_data_descriptors(zip64_end: bool, descriptor: str, signature: bool, method: int) -> None:
    entries = [
        Entry(
            f"e{i}",
            bytes([i]) * (i * 100),
            method=method,
            descriptor=descriptor,
            descriptor_signature=signature,
        )
        for i in range(4)
    ]
    data = Archive(entries, zip64_end=zip64_end).build()
    with randread.ZipReader(data) as reader:
        for i in range(4):
            assert reader.read(f"e{i}") == bytes([i]) * (i * 100)
            with reader.open(f"e{i}") as stream:
                assert stream.read() == bytes([i]) * (i * 100)


@pytest.mark.parametrize("adjust_offsets", [False, True], ids=["cat-stub", "zip-A"])
@pytest.mark.parametrize("zip64_end", [False, True])
def test_prepended_data(adjust_offsets: bool, zip64_end: bool) -> None:
    stub = b'#!/bin/sh\nexec python3 -m app "$0"\n' + b"\x7fELF" * 300
    entries = [Entry("__main__.py", b"print('hi')\n"), Entry("data.bin", b"\x00" * 5000, method=0)]
    data = Archive(entries, prefix=stub, adjust_offsets=adjust_offsets, zip64_end=zip64_end).build()
    with randread.ZipReader(data) as reader:
        assert reader.read("__main__.py") == b"print('hi')\n"
        assert reader.read("data.bin") == b"\x00" * 5000
        assert reader.base_offset == (0 if adjust_offsets else len(stub))
        assert reader.getinfo("__main__.py").header_offset == len(stub)


def test_comments_containing_an_end_of_central_directory_signature() -> None:
    fake = b"PK\x05\x06" + b"\x00" * 16 + b"\x00\x00"
    for comment in (fake, b"before " + fake + b" after", fake * 3):
        data = Archive([Entry("a", b"content")], comment=comment).build()
        with randread.ZipReader(data) as reader:
            assert reader.comment == comment
            assert reader.read("a") == b"content"


def test_trailing_bytes_after_the_archive_are_ignored() -> None:
    data = Archive([Entry("a", b"content")], comment=b"note", suffix=b"\x00" * 7).build()
    with randread.ZipReader(data) as reader:
        assert reader.comment == b"note"
        assert reader.read("a") == b"content"


def test_empty_archive() -> None:
    data = make_zip({})
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == []
        assert reader.infolist() == []
        assert reader.testzip() is None
        assert len(reader) == 0


def test_names_utf8_flag_unicode_path_and_metadata_encoding() -> None:
    legacy = "Grüße.txt".encode("cp437")
    unicode_path_target = "七个房间.txt"
    raw_gbk = unicode_path_target.encode("gbk")
    unicode_extra_data = (
        b"\x01" + zipfile.crc32(raw_gbk).to_bytes(4, "little") + unicode_path_target.encode()
    )
    unicode_extra = len(unicode_extra_data).to_bytes(2, "little")
    entries = [
        Entry("naïve.txt".encode(), b"1", flags=1 << 11),
        Entry(legacy, b"2"),
        Entry(raw_gbk, b"3", extra=b"\x75\x70" + unicode_extra + unicode_extra_data),
        # A 0x7075 field whose CRC does not match the header name is ignored.
        Entry(b"plain.txt", b"4", extra=b"\x75\x70" + unicode_extra + unicode_extra_data),
    ]
    data = Archive(entries).build()
    with randread.ZipReader(data) as reader:
        assert reader.namelist() == ["naïve.txt", "Grüße.txt", unicode_path_target, "plain.txt"]
    with randread.ZipReader(data, metadata_encoding="latin-1") as reader:
        assert reader.namelist()[1] == legacy.decode("latin-1")
    with randread.ZipReader(make_zip({"x": b""})) as reader:
        assert reader.namelist() == ["x"]


# -- closing ----------------------------------------------------------------------


def test_closed_reader_refuses_reads(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"a": b"x", "b": b"y"}))
    reader = randread.ZipReader(path)
    assert reader.read("a") == b"x"  # an entry read before, and one that is not
    reader.close()
    reader.close()
    for name in ("a", "b"):
        with pytest.raises(randread.ClosedError):
            reader.read(name)
    with pytest.raises(ValueError, match="closed"):
        reader.open("a")
    assert reader.namelist() == ["a", "b"]  # metadata stays available


def test_a_caller_readat_is_not_closed_by_the_reader() -> None:
    source = randread.BytesReadAt(make_zip({"a": b"x"}))
    with randread.ZipReader(source) as reader:
        assert reader.read("a") == b"x"
    assert source.read_at(0, 2) == b"PK"


def test_a_caller_readat_closed_by_its_owner_fails_the_reads_that_follow() -> None:
    source = randread.BytesReadAt(make_zip({"a": b"x"}))
    with randread.ZipReader(source) as reader:
        assert reader.read("a") == b"x"
        source.close()
        with pytest.raises(randread.ClosedError):
            reader.read("a")


# -- threads, pickling, fork ------------------------------------------------------


@pytest.fixture(scope="module")
def many_entries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bytes]]:
    rng = random.Random(7)
    files = {}
    for index in range(3000):
        size = rng.choice([0, 1, 100, 1000, 5000, 40_000])
        files[f"dir{index % 17}/file{index}.bin"] = (
            rng.randbytes(size)
            if index % 3
            else (f"text {index} ".encode() * (size // 10 + 1))[:size]
        )
    path = tmp_path_factory.mktemp("zips") / "many.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (name, data) in enumerate(files.items()):
            archive.writestr(
                name,
                data,
                compress_type=[zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2][
                    index % 3 if index % 50 == 0 else index % 2
                ],
            )
    path.write_bytes(buffer.getvalue())
    return path, files


def test_sixteen_threads_share_one_reader(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    names = list(files)
    with randread.ZipReader(path) as reader:

        def work(index: int) -> None:
            rng = random.Random(index)
            for _ in range(400):
                name = rng.choice(names)
                if rng.random() < 0.5:
                    assert reader.read(name) == files[name]
                else:
                    with reader.open(name) as stream:
                        chunks = []
                        while chunk := stream.read(rng.choice([1, 100, 4096, 65536])):
                            chunks.append(chunk)
                        assert b"".join(chunks) == files[name]

        run_threads(16, work, timeout=300)


def test_pickle_reopens_by_path(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    with randread.ZipReader(path) as reader:
        payload = pickle.dumps(reader)
        assert len(payload) < 1000  # the path, not the directory or the data
    clone = pickle.loads(payload)
    with clone:
        name = next(iter(files))
        assert clone.read(name) == files[name]
        assert clone.namelist() == list(files)


def _read_in_worker(reader: randread.ZipReader, name: str) -> bytes:
    return reader.read(name)


@pytest.mark.parametrize(
    "start_method",
    [m for m in ("spawn", "fork") if m in multiprocessing.get_all_start_methods()],
)
def test_multiprocessing_workers(
    many_entries: tuple[Path, dict[str, bytes]], start_method: str
) -> None:
    path, files = many_entries
    names = list(files)[:20]
    context = multiprocessing.get_context(start_method)
    with randread.ZipReader(path) as reader, context.Pool(2) as pool:
        results = pool.starmap(_read_in_worker, [(reader, name) for name in names], chunksize=5)
    assert results == [files[name] for name in names]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_reading_after_fork(many_entries: tuple[Path, dict[str, bytes]]) -> None:
    path, files = many_entries
    name = list(files)[3]
    with randread.ZipReader(path) as reader:
        assert reader.read(name) == files[name]
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            try:
                ok = all(reader.read(n) == files[n] for n in list(files)[:200])
                os.write(write_end, b"1" if ok else b"0")
            finally:
                os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 1)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"1"


# -- extraction --------------------------------------------------------------------


def test_extractall_keeps_everything_inside_the_target(tmp_path: Path) -> None:
    entries = [
        Entry("../escape.txt", b"1"),
        Entry("/abs/path.txt", b"2"),
        Entry("C:\\windows\\drive.txt", b"3"),
        Entry("ok/../../../up.txt", b"4"),
        Entry("dir/", b"", method=0),
        Entry("dir/inner.txt", b"5"),
        Entry(
            "link",
            b"../../outside",
            method=0,
            made_by=(3 << 8) | 20,
            external_attr=(0o120777 << 16),
        ),
    ]
    target = tmp_path / "out"
    with randread.ZipReader(Archive(entries).build()) as reader:
        reader.extractall(target)
    written = sorted(p.relative_to(target).as_posix() for p in target.rglob("*"))
    assert written == [
        "C:",
        "C:/windows",
        "C:/windows/drive.txt",
        "abs",
        "abs/path.txt",
        "dir",
        "dir/inner.txt",
        "escape.txt",
        "link",
        "ok",
        "ok/up.txt",
    ] or written == sorted(
        [
            "abs",
            "abs/path.txt",
            "dir",
            "dir/inner.txt",
            "escape.txt",
            "link",
            "ok",
            "ok/up.txt",
            "windows",
            "windows/drive.txt",
        ]
    )
    assert not (tmp_path / "escape.txt").exists()
    link = target / "link"
    assert not link.is_symlink()  # links are written as files holding the target
    assert link.read_bytes() == b"../../outside"


def test_extract_refuses_to_follow_an_existing_link_out(tmp_path: Path) -> None:
    target = tmp_path / "out"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "sub").symlink_to(outside)
    with randread.ZipReader(Archive([Entry("sub/file.txt", b"x")]).build()) as reader:
        with pytest.raises(randread.ZipFormatError, match="outside"):
            reader.extract("sub/file.txt", target)
    assert not (outside / "file.txt").exists()


def test_extract_returns_the_path(tmp_path: Path) -> None:
    with randread.ZipReader(make_zip({"a/b.txt": b"hello"})) as reader:
        path = reader.extract("a/b.txt", tmp_path)
    assert Path(path).read_bytes() == b"hello"
    assert Path(path) == (tmp_path / "a" / "b.txt").resolve()


def test_repr_and_fast_backend_name() -> None:
    with randread.ZipReader(make_zip({"a": b"x"})) as reader:
        assert "entries=1" in repr(reader)
    assert randread.fast_deflate_backend() in ("libdeflate", "isal", "zlib")
    assert sys.modules["randread.zip.methods"] is methods


def _infos_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number in range(50):
            info = zipfile.ZipInfo(f"d/{number:02d}.txt", (2020, 1, 2, 3, 4, number % 60))
            info.comment = f"comment {number}".encode()
            info.external_attr = (0o600 + number) << 16
            archive.writestr(info, b"y" * number)
    return buffer.getvalue()


def test_infolist_infos_are_complete_zipinfos() -> None:
    """infolist() builds its infos from arrays in bulk; each carries zipfile's fields."""
    data = _infos_archive()
    with zipfile.ZipFile(io.BytesIO(data)) as theirs:
        expected = [
            (i.filename, i.date_time, i.comment, i.external_attr, i.CRC, i.file_size, i.extra)
            for i in theirs.infolist()
        ]
    with randread.ZipReader(data) as reader:
        infos = reader.infolist()
        assert infos[3] is reader.getinfo("d/03.txt")  # one object per entry, as zipfile
        infos[4].filename = "renamed.txt"  # the user's to change, as with zipfile
        copied = copy.copy(infos[5])
        pickled = pickle.loads(pickle.dumps(infos[6]))
        got = [
            (i.filename, i.date_time, i.comment, i.external_attr, i.CRC, i.file_size, i.extra)
            for i in infos
        ]
        assert repr(infos[7]).startswith("<ZipEntryInfo filename='d/07.txt'")
    assert got[4][0] == "renamed.txt"
    assert got[:4] + got[5:] == expected[:4] + expected[5:]
    assert got[4][1:] == expected[4][1:]
    for clone, number in ((copied, 5), (pickled, 6)):
        assert (clone.filename, clone.file_size, clone.comment) == (
            f"d/{number:02d}.txt",
            number,
            f"comment {number}".encode(),
        )
    with pytest.raises(AttributeError):
        infos[8].no_such_field  # noqa: B018 - the access is the test


def test_infolist_from_many_threads_at_once_is_one_complete_list() -> None:
    data = _infos_archive()
    with randread.ZipReader(data) as reader:
        lists: list[list[zipfile.ZipInfo]] = [[] for _ in range(8)]

        def work(index: int) -> None:
            lists[index] = (
                reader.infolist()
                if index % 2
                else [reader.getinfo(f"d/{number:02d}.txt") for number in range(50)]
            )

        run_threads(8, work, timeout=60)
        # one object per entry, whichever call made it first
        assert all(all(a is b for a, b in zip(got, lists[1], strict=True)) for got in lists)
    assert [(info.filename, info.file_size) for info in lists[0]] == [
        (f"d/{number:02d}.txt", number) for number in range(50)
    ]


def test_names_read_past_the_ready_memo_limit_still_read_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from randread.zip import reader as reader_module  # noqa: PLC0415 - patched here only

    monkeypatch.setattr(reader_module, "_READY_LIMIT", 4)
    data = _infos_archive()
    with randread.ZipReader(data) as reader:
        for _ in range(2):
            for number in range(50):
                assert reader.read(f"d/{number:02d}.txt") == b"y" * number
        assert len(reader._ready) <= 4
