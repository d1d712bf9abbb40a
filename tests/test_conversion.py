"""randread.conversion: zip to bundle, checked against ZipReader on the shared zip corpora.

The corpus tests are skipped (an empty parameter set) when the corpora are absent.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import randread
from randread import conversion
from randread.conversion import ConversionPlan, metadata_hooks, register_metadata_hook
from randread.readat import ReadAt
from randread.sentry import metadata_hook
from tests.conformance.test_corpora import Case, _by_expectation
from tests.zipbuilder import Archive, Entry

NO_TIME = (1980, 1, 1, 0, 0, 0)


def text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437")


def real_time(date_time: tuple[int, ...]) -> bool:
    year, month, day, hour, minute, second = date_time
    if not (1 <= month <= 12 and 0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 60):
        return False
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28]
    days += [31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return 1 <= day <= days[month - 1]


def assert_same(zip_path: Path, bundle_path: Path, pwd: bytes | None = None) -> None:
    """The bundle holds what ZipReader reads: names, contents, times, modes, comments."""
    with (
        randread.ZipReader(zip_path, pwd=pwd) as source,
        randread.BundleReader(bundle_path, verify_index=True) as bundle,
    ):
        infos = source.infolist()
        assert bundle.namelist() == [info.filename for info in infos]
        assert text(source.comment) == bundle.comment.decode()
        for info, converted in zip(infos, bundle.infolist(), strict=True):
            assert bundle.read(converted) == source.read(info)
            assert (converted.file_size, converted.CRC) == (info.file_size, info.CRC)
            if real_time(info.date_time):
                assert converted.date_time == info.date_time
            else:
                assert converted.mtime is None
                assert converted.date_time == NO_TIME
            mode = info.external_attr >> 16
            if info.create_system == 3 and mode:
                assert converted.mode == mode
            else:
                assert converted.mode is None
            assert converted.comment.decode() == text(info.comment)
        assert bundle.testzip() is None


def converts(case: Case) -> bool:
    """Whether ZipReader reads the archive fully (with its password, if any)."""
    try:
        with randread.ZipReader(case.path, pwd=case.password) as reader:
            names = reader.namelist()
            for name in names:
                reader.read(name)
    except randread.RandreadError:
        return False
    return len(set(names)) == len(names)


@pytest.mark.parametrize("case", _by_expectation("ok"), ids=str)
def test_ok_corpus_archives_convert_to_the_same_contents(case: Case, tmp_path: Path) -> None:
    target = tmp_path / "out.rrb"
    with randread.ZipReader(case.path, pwd=case.password) as reader:
        names = reader.namelist()
    if len(set(names)) != len(names):
        with pytest.raises(randread.UnsupportedFeatureError, match="appears more than once"):
            randread.convert(case.path, target, pwd=case.password)
        assert list(tmp_path.iterdir()) == []
        return
    result = randread.convert(case.path, target, pwd=case.password)
    assert result.entries == len(names)
    assert result.input_size == case.path.stat().st_size
    assert result.output_size == target.stat().st_size
    assert list(tmp_path.iterdir()) == [target]
    assert_same(case.path, target, case.password)


@pytest.mark.parametrize("case", _by_expectation("unsupported") + _by_expectation("error"), ids=str)
def test_archives_that_do_not_read_leave_no_output(case: Case, tmp_path: Path) -> None:
    target = tmp_path / "out.rrb"
    readable = converts(case)
    try:
        randread.convert(case.path, target, pwd=case.password, workers=1)
    except randread.RandreadError:
        assert not readable or case.password is None
        assert list(tmp_path.iterdir()) == []
        return
    assert readable
    assert_same(case.path, target, case.password)


def test_encrypted_archive_needs_its_password(tmp_path: Path) -> None:
    data = Archive([Entry("secret", b"secret payload " * 100, password=b"pw")]).build()
    source = tmp_path / "enc.zip"
    source.write_bytes(data)
    with pytest.raises(randread.EncryptionError):
        randread.convert(source, tmp_path / "out.rrb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.zip"]
    randread.convert(source, tmp_path / "out.rrb", pwd=b"pw")
    assert_same(source, tmp_path / "out.rrb", b"pw")


def make_zip(path: Path, files: dict[str, bytes], **options: object) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, **options) as archive:  # type: ignore[arg-type]
        archive.comment = "archive cömment".encode()
        for index, (name, content) in enumerate(files.items()):
            info = zipfile.ZipInfo(name, (2001 + index, 2, 3, 4, 5, 6))
            info.external_attr = (0o100640 if index % 2 else 0o40755) << 16
            info.create_system = 3
            info.comment = f"comment {index}".encode()
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return path


FILES = {f"dir/file{index}.txt": b"line of text %d\n" % index * (index * 20) for index in range(30)}


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"codec": "none", "alignment": 4096},
        {"codec": "lz4", "workers": 1},
        {"codec": "zstd", "dictionary": False, "level": 1},
        {"codec": "auto", "workers": 3},
    ],
    ids=str,
)
def test_names_times_modes_and_comments_carry_over(tmp_path: Path, options: dict) -> None:
    source = make_zip(tmp_path / "in.zip", FILES)
    calls: list[tuple[int, int, str]] = []
    result = randread.convert(
        source,
        tmp_path / "out.rrb",
        progress=lambda done, total, name: calls.append((done, total, name)),
        **options,
    )
    per_entry = [(index + 1, len(FILES), name) for index, name in enumerate(FILES)]
    training = [(0, len(FILES), "(training a dictionary)")]
    trains = options.get("codec", "auto") in ("auto", "zstd") and options.get("dictionary", True)
    assert calls == (training if trains else []) + per_entry
    assert_same(source, tmp_path / "out.rrb")
    with randread.BundleReader(tmp_path / "out.rrb") as bundle:
        assert bundle.comment == "archive cömment".encode()
        assert bundle.getinfo("dir/file1.txt").mode == 0o100640
        assert bundle.getinfo("dir/file1.txt").date_time == (2002, 2, 3, 4, 5, 6)
        assert bundle.getinfo("dir/file3.txt").metadata == {"comment": "comment 3"}
        assert result.dictionary_size == bundle.dictionary_size
        if options.get("codec") == "none":
            assert {info.codec for info in bundle.infolist()} == {"none"}
    # Small files: a bundle's index costs about as much as a zip's headers.
    assert result.ratio == result.output_size / result.input_size


def test_a_corrupt_zip_leaves_no_output(tmp_path: Path) -> None:
    data = bytearray((make_zip(tmp_path / "good.zip", FILES)).read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as reference:
        info = reference.getinfo("dir/file20.txt")
    # A byte in the middle of the deflate data of one entry.
    local_header_length = 30 + len(info.filename) + len(info.extra)
    data[info.header_offset + local_header_length + info.compress_size // 2] ^= 0x55
    source = tmp_path / "bad.zip"
    source.write_bytes(bytes(data))
    with pytest.raises((randread.ZipChecksumError, randread.ZipFormatError)):
        randread.convert(source, tmp_path / "out.rrb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "good.zip"]


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "dup.zip"
    source.write_bytes(
        Archive([Entry("same", b"1"), Entry("other", b"2"), Entry("same", b"3")]).build()
    )
    with pytest.raises(randread.UnsupportedFeatureError, match="'same' appears more than once"):
        randread.convert(source, tmp_path / "out.rrb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.zip"]


def test_overwrite(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "in.zip", FILES)
    target = tmp_path / "out.rrb"
    target.write_bytes(b"existing")
    with pytest.raises(FileExistsError):
        randread.convert(source, target)
    assert target.read_bytes() == b"existing"
    randread.convert(source, target, overwrite=True)
    assert_same(source, target)


def test_empty_names_and_timestamps_that_are_no_time(tmp_path: Path) -> None:
    """An empty name, a zero DOS date (month 0) and an impossible one (February 30)."""
    source = tmp_path / "odd.zip"
    source.write_bytes(
        Archive(
            [
                Entry("", b"the empty name " * 50),
                Entry("zero-date", b"no time " * 50, dos_date=0, dos_time=0),
                Entry("feb-30", b"x", dos_date=(20 << 9) | (2 << 5) | 30),
                Entry("fine", b"y", dos_date=(44 << 9) | (2 << 5) | 29, dos_time=0x6000),
            ]
        ).build()
    )
    randread.convert(source, tmp_path / "out.rrb")
    assert_same(source, tmp_path / "out.rrb")
    with randread.BundleReader(tmp_path / "out.rrb") as bundle:
        assert bundle.namelist() == ["", "zero-date", "feb-30", "fine"]
        assert bundle.getinfo("zero-date").mtime is None
        assert bundle.getinfo("feb-30").mtime is None
        assert bundle.getinfo("fine").date_time == (2024, 2, 29, 12, 0, 0)


# -- metadata hooks ------------------------------------------------------------------


class RecordingHook:
    """A metadata hook that plans a fixed conversion and records its calls."""

    def __init__(self, plan: ConversionPlan | None) -> None:
        self.plan = plan
        self.calls: list[tuple[int, int, bool]] = []

    def __call__(
        self, source: randread.ZipReader, file: ReadAt, *, required: bool
    ) -> ConversionPlan | None:
        assert isinstance(source, randread.ZipReader)
        self.calls.append((len(source), file.size, required))
        return self.plan


def test_a_hook_plans_order_and_metadata(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "in.zip", {"a": b"1", "b": b"2", "c": b"3"})
    plan = ConversionPlan(
        order=["c", "a"], entry_metadata={"c": {"kind": "third"}}, archive_metadata={"x": "y"}
    )
    declines, plans = RecordingHook(None), RecordingHook(plan)
    result = randread.convert(
        source, tmp_path / "out.rrb", metadata_hooks={"first": declines, "second": plans}
    )
    size = source.stat().st_size
    assert declines.calls == plans.calls == [(3, size, False)]
    assert result.entries == 2
    with randread.BundleReader(tmp_path / "out.rrb") as bundle:
        assert bundle.namelist() == ["c", "a"]
        assert bundle.metadata == {"x": "y", "comment": "archive cömment"}
        # The plan's metadata comes with the zip's own (the comments).
        assert bundle.getinfo("c").metadata == {"comment": "comment 2", "kind": "third"}
        assert bundle.getinfo("a").metadata == {"comment": "comment 0"}


def test_the_sentry_switch_reaches_the_hook_of_that_name(tmp_path: Path) -> None:
    source = make_zip(tmp_path / "in.zip", {"a": b"1"})
    hook = RecordingHook(None)
    for switch in (None, True, False):
        randread.convert(
            source,
            tmp_path / "out.rrb",
            overwrite=True,
            sentry=switch,
            metadata_hooks={"sentry": hook},
        )
    size = source.stat().st_size
    assert hook.calls == [(1, size, False), (1, size, True)]


def test_sentry_registers_its_hook_and_no_hooks_convert_as_it_is(tmp_path: Path) -> None:
    assert metadata_hooks()["sentry"] is metadata_hook
    source = tmp_path / "in.zip"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("manifest.json", '{"files": {"files/a": {"url": "~/a"}}}')
        archive.writestr("files/a", "a")
    randread.convert(source, tmp_path / "none.rrb", metadata_hooks={})
    with randread.BundleReader(tmp_path / "none.rrb") as bundle:
        assert bundle.namelist() == ["manifest.json", "files/a"]
        assert bundle.metadata == {}
    randread.convert(source, tmp_path / "default.rrb")
    with randread.BundleReader(tmp_path / "default.rrb") as bundle:
        assert bundle.namelist() == ["files/a"]
        assert bundle.getinfo("files/a").metadata == {"sentry.url": "~/a"}


def test_registering_adds_a_hook_or_replaces_one_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversion, "_hooks", metadata_hooks())
    source = make_zip(tmp_path / "in.zip", {"a": b"1", "b": b"2"})
    first, second = RecordingHook(None), RecordingHook(ConversionPlan(["b"], {}, {}))
    register_metadata_hook("test", first)
    register_metadata_hook("test", second)
    assert list(metadata_hooks()) == ["sentry", "test"]
    randread.convert(source, tmp_path / "out.rrb")
    assert (first.calls, len(second.calls)) == ([], 1)
    with randread.BundleReader(tmp_path / "out.rrb") as bundle:
        assert bundle.namelist() == ["b"]
