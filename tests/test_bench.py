"""``randread bench``: builds every format from one corpus and reports real measurements."""

from __future__ import annotations

import json
import re
import zipfile
from typing import TYPE_CHECKING

import pytest

from randread import bench
from randread.bench.report import percent_shares
from randread.bench.runner import share_out
from tests.cli.helpers import invoke, run

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus") / "files"
    for index in range(40):
        folder = root / f"dir{index % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        text = f"line {index}\n".encode() * (50 + 30 * index)
        (folder / f"file{index}.txt").write_bytes(text)
    return root


def test_every_format_reads_the_corpus_back(files: Path, tmp_path: Path) -> None:
    corpus = bench.load_corpus([str(files)])
    assert len(corpus) == 40
    for subject in bench.subjects():
        path = subject.build(corpus, tmp_path)
        with subject.setting():
            reader = subject.open(path)
            try:
                for name, data in zip(corpus.names, corpus.contents, strict=True):
                    assert reader.read(name) == data, (subject.name, name)
            finally:
                reader.close()


def test_breakdown_phases_reproduce_the_content(files: Path, tmp_path: Path) -> None:
    corpus = bench.load_corpus([str(files)])
    for subject in bench.subjects():
        if subject.phases is None:
            continue
        path = subject.build(corpus, tmp_path)
        with subject.setting():
            reader = subject.open(path)
            phases = subject.phases(path, reader)
            for name, data in zip(corpus.names, corpus.contents, strict=True):
                assert phases.lookup(name)
                content = phases.decode(name, phases.io(name))
                assert content == data, (subject.name, name)
                assert phases.checksum(content) == zipfile.crc32(data)
            phases.close()
            reader.close()


def test_bench_command_writes_a_complete_json_report(files: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = run(
        "bench",
        files,
        "--quick",
        "--threads",
        "1,2",
        "--formats",
        "zipfile,bundle-zstd",
        "--json",
        out,
    )
    assert result.returncode == 0, result.stderr.decode()
    text = result.stdout.decode()
    assert "zipfile" in text
    assert "bundle-zstd" in text
    report = json.loads(out.read_text())
    assert report["corpus"]["entries"] == 40
    assert [row["format"] for row in report["results"]] == ["zipfile", "bundle-zstd"]
    for row in report["results"]:
        assert row["uniform_us"] > 0
        assert row["file_size"] > 0
        assert set(row["threads_ops_per_s"]) == {"1", "2"}
        parts = row["breakdown_us"]
        assert set(parts) == {
            "lookup",
            "io",
            "decode",
            "checksum",
            "other",
            "total",
            "phases_alone",
        }
        phases = ("lookup", "io", "decode", "checksum", "other")
        assert sum(parts[phase] for phase in phases) == pytest.approx(parts["total"])
    rows = [line for line in text.splitlines() if "%)" in line]
    assert len(rows) == 2, text
    for line in rows:
        shares = [int(share) for share in re.findall(r"\((\d+)%\)", line)]
        assert len(shares) == 5, line
        assert sum(shares) == 100, line


def test_phases_timed_alone_are_shared_out_to_the_read_time() -> None:
    measured = {"lookup": 0.1, "io": 0.5, "decode": 7.8, "checksum": 0.4}
    parts = share_out(measured, 6.9)
    assert parts["other"] == 0.0
    assert parts["phases_alone"] == pytest.approx(8.8)
    assert sum(parts[phase] for phase in measured) == pytest.approx(6.9)
    assert parts["decode"] / parts["io"] == pytest.approx(7.8 / 0.5)
    roomy = share_out(measured, 10.0)
    assert roomy["decode"] == 7.8
    assert roomy["other"] == pytest.approx(1.2)


@pytest.mark.parametrize(
    "values",
    [[0.1, 0.5, 7.8, 0.4, 0.0], [1, 1, 1], [0.2, 0.4, 0.3, 0.2, 0.0], [3.0], [0.0, 0.0]],
)
def test_percent_shares_add_up_to_100(values: list[float]) -> None:
    shares = percent_shares(values)
    assert sum(shares) == (100 if sum(values) else 0)
    for share, value in zip(shares, values, strict=True):
        assert abs(share - 100 * value / (sum(values) or 1)) < 1


def test_bench_reads_the_entries_of_an_archive(tmp_path: Path) -> None:
    archive = tmp_path / "in.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("a.txt", b"alpha" * 100)
        out.writestr("b.txt", b"beta" * 100)
    corpus = bench.load_corpus([str(archive)])
    assert corpus.names == ["a.txt", "b.txt"]
    assert corpus.contents == [b"alpha" * 100, b"beta" * 100]


def test_bench_rejects_unknown_formats_and_thread_counts(files: Path) -> None:
    result = invoke("bench", str(files), "--formats", "nope")
    assert result.exit_code == 2
    assert "unknown format nope" in result.stderr
    result = invoke("bench", str(files), "--threads", "0")
    assert result.exit_code == 2


def test_bench_list_formats_names_the_baseline_first() -> None:
    result = invoke("bench", "--list-formats")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("zipfile")


def test_bench_of_nothing_is_a_clear_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("bench", str(empty))
    assert result.exit_code == 1
    assert "no files found" in result.stderr
