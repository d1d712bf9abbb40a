"""``randread convert``: options against a stand-in converter, then the real one."""

from __future__ import annotations

import io
import json
import os
import random
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

import randread
from randread.cli import convert as convert_module
from tests.cli.helpers import (
    ENTRIES,
    UNICODE_NAME,
    FakeConvert,
    FakeResult,
    assert_one_line_error,
    invoke,
    run,
)


def test_convert_passes_only_the_options_given(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    result = invoke("convert", sample_zip, output)
    assert result.exit_code == 0, result.output
    ((zip_path, bundle_path, options),) = fake_convert.calls
    assert (zip_path, bundle_path) == (os.fspath(sample_zip), os.fspath(output))
    assert set(options) == {"codec", "overwrite", "progress"}
    assert options["codec"] == "auto"
    assert options["overwrite"] is False


def test_convert_options_reach_the_converter(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    output.write_bytes(b"old")
    args = ["--codec", "lz4", "--level", "3", "--no-dictionary", "--alignment", "64", "--force"]
    result = invoke("convert", *args, sample_zip, output)
    assert result.exit_code == 0, result.output
    ((_, _, options),) = fake_convert.calls
    del options["progress"]
    assert options == {
        "codec": "lz4",
        "level": 3,
        "dictionary": False,
        "alignment": 64,
        "overwrite": True,
    }


def test_convert_prints_a_summary(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    fields = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert fields["entries"] == "2"
    assert fields["input"] == "4.0 kB (4,000 bytes)"
    assert fields["output"] == "1.0 kB (1,000 bytes)"
    assert fields["ratio"] == "25.0% of input"
    assert fields["time"] == "0.25 s"
    assert fake_convert.calls


def test_convert_quiet_prints_nothing(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(
        convert_module, "stderr_console", lambda: Console(file=terminal, force_terminal=True)
    )
    result = invoke("convert", "--quiet", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert terminal.getvalue() == ""
    assert fake_convert.calls


def test_convert_shows_progress_on_a_terminal(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(
        convert_module, "stderr_console", lambda: Console(file=terminal, force_terminal=True)
    )
    assert invoke("convert", sample_zip, tmp_path / "out.rrb").exit_code == 0
    assert fake_convert.calls
    assert terminal.getvalue()


def test_convert_refuses_to_overwrite_without_force(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path
) -> None:
    output = tmp_path / "out.rrb"
    output.write_bytes(b"precious")
    result = invoke("convert", sample_zip, output)
    assert result.exit_code == 2
    assert "--force" in result.stderr
    assert output.read_bytes() == b"precious"
    assert not fake_convert.calls


def test_convert_refuses_to_write_over_its_input(
    fake_convert: FakeConvert, sample_zip: Path
) -> None:
    result = invoke("convert", "--force", sample_zip, sample_zip)
    assert result.exit_code == 2
    assert "input file" in result.stderr
    assert not fake_convert.calls


@pytest.mark.parametrize("alignment", ["0", "3", "8192", "-4"])
def test_convert_rejects_a_bad_alignment(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, alignment: str
) -> None:
    result = invoke("convert", "--alignment", alignment, sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 2
    assert not fake_convert.calls


def test_convert_errors_are_one_line(
    monkeypatch: pytest.MonkeyPatch, sample_zip: Path, tmp_path: Path
) -> None:
    def failing(*_args: object, **_options: object) -> FakeResult:
        raise randread.UnsupportedFeatureError("the name 'a' appears more than once")

    monkeypatch.setattr(randread, "convert", failing, raising=False)
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 1
    assert result.stderr == (
        f"randread: error: {sample_zip}: the name 'a' appears more than once\n"
    )


@pytest.mark.parametrize(
    ("codec", "level"), [("auto", "99"), ("zstd", "23"), ("lz4", "13"), ("lz4", "-1")]
)
def test_convert_refuses_a_level_the_codec_lacks(
    fake_convert: FakeConvert, sample_zip: Path, tmp_path: Path, codec: str, level: str
) -> None:
    result = invoke("convert", "--codec", codec, "--level", level, sample_zip, tmp_path / "o.rrb")
    assert result.exit_code == 2, result.output
    assert "'--level'" in result.output
    assert f"{level} is not" in result.output
    assert not fake_convert.calls


def test_convert_of_a_bundle_says_it_is_one(sample_bundle: Path, tmp_path: Path) -> None:
    assert_one_line_error(
        run("convert", sample_bundle, tmp_path / "again.rrb"), "is a randread bundle already"
    )
    assert not (tmp_path / "again.rrb").exists()


def test_convert_warns_when_the_bundle_is_not_smaller(tmp_path: Path) -> None:
    source = tmp_path / "random.zip"
    rng = random.Random(2)
    with zipfile.ZipFile(source, "w") as archive:
        for index in range(29):
            archive.writestr(f"r{index}.bin", rng.randbytes(300))
    result = invoke("convert", "--codec", "none", "--alignment", "4096", source, tmp_path / "r.rrb")
    assert result.exit_code == 0, result.output
    assert "warning: the bundle is not smaller than the zip" in result.stderr
    smaller = invoke("convert", "--codec", "none", source, tmp_path / "small.rrb")
    assert smaller.exit_code == 0
    output = (tmp_path / "small.rrb").stat().st_size
    assert ("warning" in smaller.stderr) == (output >= source.stat().st_size)


def test_convert_names_the_dictionary_when_it_made_the_bundle_larger(
    fake_convert: FakeConvert, monkeypatch: pytest.MonkeyPatch, sample_zip: Path, tmp_path: Path
) -> None:
    def larger(zip_path: str, bundle_path: str, **options: object) -> FakeResult:
        fake_convert(zip_path, bundle_path, **options)
        return FakeResult(4, 16000, 16064, 0.1, dictionary_size=16384)

    monkeypatch.setattr(randread, "convert", larger, raising=False)
    result = invoke("convert", sample_zip, tmp_path / "out.rrb")
    assert result.exit_code == 0
    assert "(100.4% of it)" in result.stderr
    assert "--no-dictionary" in result.stderr


def test_bundle_reads_like_the_zip(sample_bundle: Path) -> None:
    listing = invoke("ls", "--json", sample_bundle)
    assert [record["name"] for record in json.loads(listing.stdout)] == list(ENTRIES)
    for name in ("data/all-bytes.bin", "data/big.bin", UNICODE_NAME):
        assert invoke("cat", sample_bundle, name).stdout_bytes == ENTRIES[name][0]
    assert invoke("verify", sample_bundle).exit_code == 0
