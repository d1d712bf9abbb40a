"""The command line on S3 URLs: every command, its errors, and its storage options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from randread import BundleReader
from tests.readat.remote_helpers import SECRET, contents, make_zip
from tests.remote import S3


def cli_env() -> dict[str, str]:
    """Credentials as the usual environment variables, nothing beyond loopback."""
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing-key",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONIOENCODING": "utf-8",
    }


def randread_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, on loopback
        [sys.executable, "-m", "randread", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=cli_env(),
    )


def test_cli_commands_read_s3_urls(s3: S3, tmp_path: Any) -> None:
    data = make_zip(40)
    expected = contents(data)
    url = s3.put(data)
    endpoint = f"--storage-option=endpoint_url={s3.server.endpoint}"
    listing = randread_cli("ls", endpoint, url)
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.split() == sorted(expected)
    cat = randread_cli("cat", endpoint, url, "0000000003.txt")
    assert cat.stdout.encode() == expected["0000000003.txt"]
    info = randread_cli(
        "--storage-option", f"endpoint_url={s3.server.endpoint}", "info", "--json", url
    )
    assert info.returncode == 0, info.stderr
    facts = json.loads(info.stdout)
    assert (facts["entries"], facts["file_size"]) == (40, len(data))
    assert randread_cli("verify", endpoint, url).returncode == 0
    extracted = randread_cli("extract", endpoint, url, str(tmp_path / "out"))
    assert extracted.returncode == 0, extracted.stderr
    assert (tmp_path / "out" / "0000000007.txt").read_bytes() == expected["0000000007.txt"]
    bundle = tmp_path / "a.rrb"
    converted = randread_cli("convert", "-q", endpoint, url, str(bundle))
    assert converted.returncode == 0, converted.stderr
    with BundleReader(bundle) as reader:
        assert {name: reader.read(name) for name in reader.namelist()} == expected


def test_cli_remote_errors_are_one_line_without_secrets(s3: S3) -> None:
    endpoint = f"--storage-option=endpoint_url={s3.server.endpoint}"
    missing = randread_cli("ls", endpoint, "s3://randread-test/missing.zip")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1, missing.stderr
    assert "s3://randread-test/missing.zip" in missing.stderr
    assert "Traceback" not in missing.stderr
    assert SECRET not in missing.stderr
    bad = randread_cli("ls", "--storage-option", "no-equals-sign", "s3://randread-test/a.zip")
    assert bad.returncode == 2
    assert "KEY=VALUE" in bad.stderr


def test_cli_storage_options_parse_json_and_dotted_keys(s3: S3) -> None:
    url = s3.put(make_zip(5))
    result = randread_cli(
        "ls",
        "--storage-option=anon=false",
        f"--storage-option=client_kwargs.endpoint_url={s3.server.endpoint}",
        "--storage-option=client_kwargs.region_name=us-east-1",
        url,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.split()) == 5


def test_cli_bench_measures_a_remote_corpus(s3: S3) -> None:
    url = s3.put(make_zip(30))
    result = randread_cli(
        "bench",
        "--quick",
        "--formats",
        "zipfile",
        "--threads",
        "1",
        f"--storage-option=endpoint_url={s3.server.endpoint}",
        url,
    )
    assert result.returncode == 0, result.stderr
    assert "zipfile" in result.stdout
