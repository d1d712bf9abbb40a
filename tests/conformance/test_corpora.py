"""Conformance: the zip test archives of six other zip readers (``shared/corpora``).

Each folder's ``manifest.tsv`` says what a reader must do with each archive:
``ok`` lists and reads with the right CRC, ``error`` raises (a randread error,
nothing else), ``unsupported`` either reads correctly or raises
UnsupportedFeatureError, ``ok-or-error`` may do either but never crashes or hangs.
"""

from __future__ import annotations

import contextlib
import csv
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import randread
from tests.conftest import CORPORA, run_threads

_PASSWORD = re.compile(r'password "([^"]*)"')


@dataclass(frozen=True)
class Case:
    folder: str
    file: str
    expect: str
    detail: str

    @property
    def path(self) -> Path:
        return CORPORA / self.folder / self.file

    @property
    def password(self) -> bytes | None:
        match = _PASSWORD.search(self.detail)
        return match.group(1).encode() if match else None

    def __str__(self) -> str:
        return f"{self.folder}/{self.file}"


def _cases() -> list[Case]:
    cases = []
    for manifest in sorted(CORPORA.glob("*/manifest.tsv")):
        with manifest.open(encoding="utf-8", newline="") as handle:
            rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            cases.extend(
                Case(manifest.parent.name, row["file"], row["expect"], row["detail"])
                for row in rows
            )
    return cases


#: Archives where randread knowingly does not do what the manifest says, and why.
#: Each is still tested: randread must keep doing what is written here.
DISAGREEMENTS = {
    (
        "yauzl/failure/Invalid comment length Expected 1 Found 0 Are there extra bytes at the "
        "end of the file Or is the end of central dir signature PK in the com.zip"
    ): (
        "ok",
        (
            "the EOCD has an empty comment and one 0x00 byte follows it: trailing bytes after "
            "the end of central directory record, which Go (test-trailing-junk.zip), zip2 "
            "(comment_garbage.zip) and CPython all accept, and which zero-padding produces"
        ),
    ),
}

CASES = _cases()
pytestmark = pytest.mark.skipif(not CASES, reason=f"no corpora at {CORPORA}")


def read_everything(case: Case) -> list[tuple[str, bytes]]:
    """Open the archive, list it and read every entry twice: read() and open()."""
    contents = []
    with randread.ZipReader(case.path) as reader:
        if case.password:
            reader.setpassword(case.password)
        infos = reader.infolist()
        assert [info.filename for info in infos] == reader.namelist()
        for info in infos:
            data = reader.read(info)
            assert type(data) is bytes
            assert len(data) == info.file_size
            with reader.open(info) as stream:
                assert stream.read() == data
            contents.append((info.filename, data))
    return contents


def reader_extra(case: Case, name: str) -> bytes:
    with randread.ZipReader(case.path) as reader:
        return reader.getinfo(name).extra


def _by_expectation(expect: str) -> list[Case]:
    return [case for case in CASES if DISAGREEMENTS.get(str(case), (case.expect,))[0] == expect]


def test_disagreements_name_real_cases() -> None:
    known = {str(case): case for case in CASES}
    for key, (expect, reason) in DISAGREEMENTS.items():
        assert key in known, key
        assert known[key].expect != expect, reason


@pytest.mark.parametrize("case", _by_expectation("ok"), ids=str)
def test_ok_archives_read(case: Case) -> None:
    contents = read_everything(case)
    # Where the standard library reads the archive too, the contents agree.
    # Newer zipfile versions warn about odd extra fields (an empty Unicode Path
    # field, say); those warnings are the reference's, not randread's.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with zipfile.ZipFile(case.path) as reference:
                expected = [(info.filename, reference.read(info)) for info in reference.infolist()]
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError):
        return
    assert [data for _, data in contents] == [data for _, data in expected]
    # Names agree too, except where randread applies a Unicode Path extra field
    # (0x7075) that this Python's zipfile ignores.
    for (name, _), (expected_name, _) in zip(contents, expected, strict=True):
        assert name == expected_name or b"\x75\x70" in reader_extra(case, name)


@pytest.mark.parametrize("case", _by_expectation("error"), ids=str)
def test_error_archives_raise_randread_errors(case: Case) -> None:
    with pytest.raises(randread.RandreadError):
        read_everything(case)


@pytest.mark.parametrize("case", _by_expectation("unsupported"), ids=str)
def test_unsupported_archives_read_or_decline_clearly(case: Case) -> None:
    try:
        read_everything(case)
    except randread.UnsupportedFeatureError as exc:
        assert str(exc)
    except randread.EncryptionError:
        # Declining an encrypted entry is only right when no password is known.
        assert case.password is None, f"password {case.password!r} was given"


@pytest.mark.parametrize("case", _by_expectation("ok-or-error"), ids=str)
def test_ambiguous_archives_never_crash(case: Case) -> None:
    with contextlib.suppress(randread.RandreadError):
        read_everything(case)


def test_ok_archives_from_threads() -> None:
    """Every ``ok`` archive, one shared reader each, read by 4 threads at once."""
    cases = _by_expectation("ok")
    expected = {str(case): read_everything(case) for case in cases}
    readers = {str(case): randread.ZipReader(case.path) for case in cases}

    def work(index: int) -> None:
        for key in list(readers)[index::2] + list(readers):
            reader = readers[key]
            for info, (_, data) in zip(reader.infolist(), expected[key], strict=True):
                assert reader.read(info) == data

    try:
        run_threads(4, work)
    finally:
        for reader in readers.values():
            reader.close()
