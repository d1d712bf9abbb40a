"""BundleWriter: what it refuses, what it leaves behind on failure, and its output layout."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

import randread
from randread.bundle import codecs
from randread.bundle import format as fmt
from randread.bundle import writer as writer_module
from tests.bundlebuilder import FOOTER_SIZE, footer_of, name_hash, record

SOURCE_ROOT = Path(randread.__file__).resolve().parents[1]


def leftovers(directory: Path, keep: str | None = None) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name != keep)


def small_bundle(path: Path, **options: object) -> dict[str, bytes]:
    files = {"a.txt": b"alpha " * 50, "b.bin": bytes(range(256)), "c/": b""}
    with randread.BundleWriter(path, **options) as writer:  # type: ignore[arg-type]
        for name, content in files.items():
            writer.add(name, content)
    return files


def read_all(path: Path) -> dict[str, bytes]:
    with randread.BundleReader(path, verify_index=True) as reader:
        return {name: reader.read(name) for name in reader.namelist()}


# -- refusals that leave the writer usable ------------------------------------------


def test_duplicate_names_are_refused_and_the_rest_kept(tmp_path: Path) -> None:
    path = tmp_path / "dup.rrb"
    with randread.BundleWriter(path) as writer:
        writer.add("same", b"first")
        with pytest.raises(ValueError, match="duplicate entry name 'same'"):
            writer.add("same", b"second")
        writer.add("other", b"third")
        with pytest.raises(ValueError, match="duplicate"):
            writer.add("other", b"")
        assert len(writer) == 2
    assert read_all(path) == {"same": b"first", "other": b"third"}


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"mode": 0x10000}, ValueError, "16-bit mode"),
        ({"mode": -1}, ValueError, "16-bit mode"),
        ({"mtime": 1e11}, ValueError, "out of range"),
        ({"metadata": {"": "v"}}, ValueError, "must not be empty"),
        ({"metadata": {"k": 1}}, TypeError, "must be str"),
    ],
    ids=["mode-high", "mode-negative", "mtime", "empty-key", "non-str-value"],
)
def test_bad_entry_arguments_are_refused_and_the_name_stays_free(
    tmp_path: Path, arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    path = tmp_path / "bad.rrb"
    with randread.BundleWriter(path) as writer:
        with pytest.raises(error, match=message):
            writer.add("x", b"data", **arguments)  # type: ignore[arg-type]
        with pytest.raises(UnicodeEncodeError):
            writer.add("lone \udc80 surrogate", b"data")
        writer.add("x", b"data")
    assert read_all(path) == {"x": b"data"}


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"codec": "gzip"}, ValueError, "codec must be"),
        ({"alignment": 3}, ValueError, "power of two"),
        ({"alignment": 0}, ValueError, "power of two"),
        ({"alignment": 8192}, ValueError, "power of two"),
        ({"workers": 0}, ValueError, "workers"),
        ({"dictionary": "trained"}, TypeError, "dictionary must be"),
    ],
    ids=str,
)
def test_bad_writer_options_create_nothing(
    tmp_path: Path, options: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        randread.BundleWriter(tmp_path / "x.rrb", **options)  # type: ignore[arg-type]
    assert leftovers(tmp_path) == []


def test_closed_writer_refuses_entries(tmp_path: Path) -> None:
    writer = randread.BundleWriter(tmp_path / "c.rrb")
    writer.close()
    writer.close()  # twice is fine
    with pytest.raises(ValueError, match="closed"):
        writer.add("late", b"x")
    writer.abort()  # after a successful close, abort removes nothing
    assert read_all(tmp_path / "c.rrb") == {}


# -- existing files and failures ------------------------------------------------------


def test_existing_file_is_refused_without_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "exists.rrb"
    path.write_bytes(b"precious")
    before = path.stat()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        randread.BundleWriter(path)
    assert path.read_bytes() == b"precious"
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert leftovers(tmp_path) == ["exists.rrb"]


def test_overwrite_replaces_the_file(tmp_path: Path) -> None:
    path = tmp_path / "exists.rrb"
    path.write_bytes(b"old")
    files = small_bundle(path, overwrite=True)
    assert read_all(path) == files
    assert leftovers(tmp_path) == ["exists.rrb"]


def test_a_file_appearing_while_writing_is_not_clobbered(tmp_path: Path) -> None:
    path = tmp_path / "late.rrb"
    writer = randread.BundleWriter(path)
    writer.add("a", b"x")
    path.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        writer.close()
    assert path.read_bytes() == b"someone else's"
    assert leftovers(tmp_path) == ["late.rrb"]


@pytest.mark.parametrize("existing", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_exception_in_with_block_leaves_nothing(
    tmp_path: Path, existing: bool, workers: int
) -> None:
    path = tmp_path / "fail.rrb"
    if existing:
        path.write_bytes(b"old content")

    def write_then_fail() -> None:
        with randread.BundleWriter(path, overwrite=True, workers=workers) as writer:
            for index in range(20):
                writer.add(f"e{index}", b"content %d " % index * 100)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_then_fail()
    assert leftovers(tmp_path) == (["fail.rrb"] if existing else [])
    if existing:
        assert path.read_bytes() == b"old content"


def test_abort_discards_the_bundle(tmp_path: Path) -> None:
    writer = randread.BundleWriter(tmp_path / "a.rrb", dictionary="train")
    writer.add("held back for training", b"x" * 100)
    writer.abort()
    writer.abort()
    writer.close()  # after abort, close does nothing
    assert leftovers(tmp_path) == []


def test_compression_failure_on_a_worker_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = codecs.codec_by_name("zstd")

    def encode(data: codecs.Buffer, level: int, context: codecs.DictionaryContext | None) -> bytes:
        if bytes(data).startswith(b"poison"):
            raise MemoryError("simulated")
        return real.encode(data, level, context)

    failing = codecs.Codec(real.id, real.name, encode, real.decode)
    monkeypatch.setattr(writer_module, "codec_by_name", lambda _name: failing)
    path = tmp_path / "w.rrb"
    path.write_bytes(b"old")

    def write() -> None:
        with randread.BundleWriter(path, workers=2, overwrite=True) as writer:
            for index in range(50):
                writer.add(f"e{index}", (b"poison" if index == 7 else b"fine") * 100)

    with pytest.raises(MemoryError, match="simulated"):
        write()
    assert leftovers(tmp_path) == ["w.rrb"]
    assert path.read_bytes() == b"old"


def test_before_publish_sees_the_complete_bundle_and_can_veto(tmp_path: Path) -> None:
    path = tmp_path / "hooked.rrb"
    seen: list[dict[str, bytes]] = []

    def check(temporary: Path) -> None:
        assert temporary.parent == tmp_path
        assert not path.exists()
        seen.append(read_all(temporary))

    files = small_bundle(path, before_publish=check)
    assert seen == [files]

    def veto(_temporary: Path) -> None:
        raise ValueError("not good enough")

    other = tmp_path / "vetoed.rrb"
    with pytest.raises(ValueError, match="not good enough"):
        small_bundle(other, before_publish=veto)
    assert leftovers(tmp_path) == ["hooked.rrb"]


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys
    sys.path.insert(0, sys.argv[2])
    import randread
    writer = randread.BundleWriter(sys.argv[1], overwrite=True, workers=int(sys.argv[3]))
    for index in range(200):
        writer.add(f"entry{index}", os.urandom(1000) + b"text" * 500)
    sys.stdout.write("written\\n")
    sys.stdout.flush()
    os._exit(1)
    """
)


@pytest.mark.parametrize("existing", [False, True])
def test_a_crash_while_writing_leaves_the_destination_as_it_was(
    tmp_path: Path, existing: bool
) -> None:
    path = tmp_path / "crash.rrb"
    if existing:
        small_bundle(path)
    before = path.read_bytes() if existing else None
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CRASH_SCRIPT, str(path), str(SOURCE_ROOT), "2"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout == b"written\n"
    if existing:
        assert path.read_bytes() == before
    else:
        assert not path.exists()
    # What may remain is the writer's temporary file, named after the target.
    stale = leftovers(tmp_path, keep="crash.rrb")
    assert all(name.startswith(".crash.rrb.") and name.endswith(".tmp") for name in stale)
    assert len(stale) == 1


# -- codec choices ---------------------------------------------------------------------


def test_train_with_too_few_samples_falls_back_to_plain_zstd(tmp_path: Path) -> None:
    path = tmp_path / "few.rrb"
    files = {f"f{index}": b"some text that compresses well " * 20 for index in range(3)}
    with randread.BundleWriter(path, dictionary="train") as writer:
        for name, content in files.items():
            writer.add(name, content)
    assert writer.dictionary is None
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.dictionary is None
        assert reader.dictionary_size == 0
        assert {info.codec for info in reader.infolist()} == {"zstd"}
        assert {name: reader.read(name) for name in reader.namelist()} == files
    assert randread.train_dictionary([b"x" * 100] * 3) is None


def test_auto_stores_tiny_and_incompressible_entries_and_compresses_text(tmp_path: Path) -> None:
    path = tmp_path / "auto.rrb"
    files = {
        "tiny": b"x" * 63,
        "random": os.urandom(10_000),
        "text": b"the quick brown fox jumps over the lazy dog\n" * 300,
        "empty": b"",
    }
    with randread.BundleWriter(path, codec="auto", alignment=64) as writer:
        for name, content in files.items():
            writer.add(name, content)
    with randread.BundleReader(path) as reader:
        codecs_used = {info.filename: info.codec for info in reader.infolist()}
        assert codecs_used == {"tiny": "none", "random": "none", "text": "zstd", "empty": "none"}
        text = reader.getinfo("text")
        assert text.compress_size < text.file_size // 10
        assert reader.getinfo("random").data_offset % 64 == 0
        assert {name: reader.read(name) for name in reader.namelist()} == files


def test_add_file_keeps_mtime_and_mode(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_bytes(b"file content")
    source.chmod(0o640)
    os.utime(source, ns=(1_600_000_000_123_456_789, 1_600_000_000_123_456_789))
    path = tmp_path / "files.rrb"
    with randread.BundleWriter(path) as writer:
        writer.add_file(source, "renamed.txt")
        with pytest.raises(ValueError, match="not a regular file"):
            writer.add_file(tmp_path)
    with randread.BundleReader(path) as reader:
        info = reader.getinfo("renamed.txt")
        assert info.mtime_ns == 1_600_000_000_123_456_789
        assert info.mode == source.stat().st_mode
        assert reader.read("renamed.txt") == b"file content"


# -- the bytes written follow formats/bundle.md -------------------------------------------


def test_output_layout_follows_the_spec(tmp_path: Path) -> None:
    path = tmp_path / "layout.rrb"
    names = ["b", "a", "", "dir/", "dir/x\x00y", "ünï"]
    with randread.BundleWriter(path, codec="auto", alignment=16, comment="c") as writer:
        for index, name in enumerate(names):
            writer.add(
                name,
                bytes([index]) * (index * 40),
                mtime=None if index % 2 else 1000.5,
                mode=0o100600 if index % 3 == 0 else None,
                metadata={"k": str(index)} if index == 4 else None,
            )
    data = path.read_bytes()
    magic, major, minor, alignment, flags, reserved = fmt.HEADER.unpack_from(data, 0)
    assert (magic, major, minor, alignment, flags, reserved) == (
        b"\x89RRB\r\n\x1a\n",
        1,
        1,
        16,
        0,
        bytes(12),
    )
    footer = footer_of(data)
    footer_offset = len(data) - FOOTER_SIZE
    assert data[-8:] == b"\x89RRBEND\n"
    assert struct.unpack_from("<I", data, footer_offset + 116)[0] == zlib.crc32(
        data[footer_offset : footer_offset + 116]
    )
    assert (footer.version_major, footer.version_minor) == (1, 1)
    assert footer.index_offset % 8 == 0
    assert footer.index_checksum == zlib.crc32(data[footer.index_offset : footer_offset])
    assert footer.entry_count == len(names)
    assert footer.entry_table_offset % 8 == 0
    assert footer.hash_table_offset % 8 == 0
    assert footer.hash_order_offset % 4 == 0
    assert (footer.dictionary_offset, footer.dictionary_length) == (0, 0)
    hashes = struct.unpack_from(f"<{len(names)}Q", data, footer.hash_table_offset)
    order = struct.unpack_from(f"<{len(names)}I", data, footer.hash_order_offset)
    assert list(hashes) == sorted(hashes)
    assert sorted(order) == list(range(len(names)))
    for position, index in enumerate(order):
        assert hashes[position] == name_hash(names[index].encode())
    for index, name in enumerate(names):
        fields = record(data, index)
        start = footer.names_offset + fields["name_offset"]
        assert data[start : start + fields["name_length"]] == name.encode()
        assert fields["flags"] & ~fmt.ENTRY_FLAGS_KNOWN == 0
        has_mtime = bool(fields["flags"] & fmt.ENTRY_HAS_MTIME)
        has_mode = bool(fields["flags"] & fmt.ENTRY_HAS_MODE)
        assert has_mtime == (index % 2 == 0)
        assert has_mode == (index % 3 == 0)
        assert fields["mtime_ns"] == (1_000_500_000_000 if has_mtime else 0)
        assert fields["mode"] == (0o100600 if has_mode else 0)
        assert fields["data_offset"] >= 32
        assert fields["data_offset"] + fields["stored_size"] <= footer.index_offset
        if fields["codec"] == fmt.CODEC_NONE:
            assert fields["data_offset"] % 16 == 0
            content = data[fields["data_offset"] : fields["data_offset"] + fields["size"]]
            assert zlib.crc32(content) == fields["checksum"]
    metadata_start = footer.archive_metadata_offset
    assert fmt.decode_metadata(
        data[metadata_start : metadata_start + footer.archive_metadata_length], "test"
    ) == {"comment": "c", "rrb.alignment": "16", "rrb.flags": "0"}
    # Every byte outside the header, the entries' data and the index is zero padding.
    used = bytearray(len(data))
    used[: fmt.HEADER.size] = b"\x01" * fmt.HEADER.size
    used[footer.index_offset :] = b"\x01" * (len(data) - footer.index_offset)
    for index in range(len(names)):
        fields = record(data, index)
        used[fields["data_offset"] : fields["data_offset"] + fields["stored_size"]] = (
            b"\x01" * fields["stored_size"]
        )
    assert all(byte == 0 for byte, mark in zip(data, used, strict=True) if not mark)


def test_empty_blocks_have_offset_zero(tmp_path: Path) -> None:
    """formats/bundle.md, Footer: the offset of an empty block is unused; writers put 0."""
    path = tmp_path / "empty.rrb"
    with randread.BundleWriter(path):
        pass
    data = path.read_bytes()
    footer = footer_of(data)
    assert footer.entry_count == 0
    assert footer.index_offset == 32
    # From 1.1 the archive metadata always holds the header's two fields.
    archive = fmt.encode_metadata({"rrb.alignment": "8", "rrb.flags": "0"})
    assert data[32:-128] == archive
    assert len(data) == 32 + len(archive) + 128
    for name in (
        "entry_table_offset",
        "hash_table_offset",
        "hash_order_offset",
        "names_offset",
        "metadata_offset",
        "dictionary_offset",
    ):
        assert getattr(footer, name) == 0, name
    # No entry metadata in a non-empty bundle either, and no archive metadata
    # but the format's own.
    path2 = tmp_path / "plain.rrb"
    small_bundle(path2)
    footer = footer_of(path2.read_bytes())
    assert (footer.metadata_length, footer.metadata_offset) == (0, 0)
    assert footer.archive_metadata_length == len(archive)
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.namelist() == []
        assert reader.testzip() is None


@pytest.mark.parametrize("codec", ["none", "lz4"])
def test_a_dictionary_with_a_codec_that_cannot_use_it_is_refused(
    tmp_path: Path, codec: str
) -> None:
    with pytest.raises(ValueError, match="does not apply"):
        randread.BundleWriter(tmp_path / "b.rrb", codec=codec, dictionary="train")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_bundles_are_created_with_the_umask_like_any_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    with randread.BundleWriter(tmp_path / "b.rrb") as writer:
        writer.add("a", b"a")
    assert (tmp_path / "b.rrb").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777


def test_the_dictionary_comes_last_in_the_data_area(tmp_path: Path) -> None:
    """A reader over object storage fetches it with the index, in one request."""
    path = tmp_path / "dict.rrb"
    samples = [b"common prefix %d " % i * 20 for i in range(200)]
    with randread.BundleWriter(path, codec="zstd", dictionary="train", dictionary_size=4096) as w:
        for index, sample in enumerate(samples):
            w.add(f"e{index}", sample)
    data = path.read_bytes()
    footer = footer_of(data)
    assert footer.dictionary_length > 0
    end = footer.dictionary_offset + footer.dictionary_length
    assert 0 <= footer.index_offset - end < 8
    with randread.BundleReader(path, verify_index=True) as reader:
        assert reader.read_many([f"e{i}" for i in range(200)]) == samples


def test_metadata_keys_of_the_format_are_refused_and_hidden(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rrb"):
        randread.BundleWriter(tmp_path / "a.rrb", metadata={"rrb.alignment": "1"})
    path = tmp_path / "b.rrb"
    with randread.BundleWriter(path, metadata={"owner": "me"}, alignment=64) as writer:
        writer.add("a", b"x")
    with randread.BundleReader(path) as reader:
        assert reader.metadata == {"owner": "me"}
        assert reader.alignment == 64
