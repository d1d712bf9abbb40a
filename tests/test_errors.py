"""The error hierarchy: what existing ``except`` clauses catch."""

from __future__ import annotations

import zipfile

import pytest

import randread


def test_base_is_never_raised_directly() -> None:
    with pytest.raises(TypeError, match="base class"):
        randread.RandreadError("boom")


@pytest.mark.parametrize(
    ("error", "also"),
    [
        (randread.OutOfBoundsError(1, 2, 3), EOFError),
        (randread.ClosedError("closed"), ValueError),
        (randread.FormatError("bad"), ValueError),
        (randread.ZipFormatError("bad"), zipfile.BadZipFile),
        (randread.ZipFormatError("bad"), ValueError),
        (randread.BundleFormatError("bad"), ValueError),
        (randread.ChecksumError("bad"), randread.FormatError),
        (randread.ZipChecksumError("bad"), zipfile.BadZipFile),
        (randread.ZipChecksumError("bad"), randread.ChecksumError),
        (randread.UnsupportedFeatureError("method 42", method=42), NotImplementedError),
        (randread.EncryptionError("password required"), RuntimeError),
        (randread.LockTimeoutError("cache lock"), TimeoutError),
    ],
)
def test_errors_are_also_the_exceptions_callers_catch(
    error: randread.RandreadError, also: type[BaseException]
) -> None:
    assert isinstance(error, randread.RandreadError)
    assert isinstance(error, also)


def test_unsupported_feature_keeps_method_id() -> None:
    assert randread.UnsupportedFeatureError("no", method=98).method == 98


def test_every_error_is_exported() -> None:
    for name in randread.errors.__all__:
        assert getattr(randread, name) is getattr(randread.errors, name)
        assert name in randread.__all__
