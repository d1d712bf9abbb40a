"""Fixtures for the remote tests: loopback servers and the requests they saw.

Each server runs in its own process (``tests/remote_servers.py``), so its work
does not compete with the client for the GIL. Nothing listens beyond
127.0.0.1, and nothing is sent anywhere else: every S3 option names the
loopback endpoint and test credentials, and instance-metadata lookups are off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

SERVERS = Path(__file__).with_name("remote_servers.py")
BUCKET = "randread-test"
# Only loopback: no credential chain, no instance metadata service.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


@dataclass
class Server:
    """A loopback server process and its control interface."""

    process: subprocess.Popen[str]
    port: int
    root: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def control(self, command: str, payload: dict[str, Any] | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            f"{self.endpoint}/__control__/{command}", data=data, method="POST" if data else "GET"
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read())

    def reset(self) -> None:
        self.control("reset", {})

    def log(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.control("log")
        return result

    def configure(self, **config: Any) -> None:
        self.control("config", config)

    def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


#: The interpreter that runs the servers: this one, unless RANDREAD_TEST_SERVER_PYTHON
#: names another (a free-threaded build cannot install moto, whose cryptography
#: has no free-threaded build; the clients still run on the interpreter under test).
SERVER_PYTHON = os.environ.get("RANDREAD_TEST_SERVER_PYTHON") or sys.executable


def start_server(kind: str, root: Path | None = None) -> Server:
    command = [SERVER_PYTHON, str(SERVERS), kind]
    if root is not None:
        command += ["--root", str(root)]
    process = subprocess.Popen(  # noqa: S603 - our own script
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        pytest.fail(f"the {kind} test server did not start: {line!r}")
    return Server(process, int(line), root)


def s3_options(server: Server) -> dict[str, Any]:
    """Storage options that point s3fs at the loopback server."""
    return {
        "key": "testing-key",
        "secret": "testing-secret-do-not-leak",
        "client_kwargs": {"endpoint_url": server.endpoint, "region_name": "us-east-1"},
    }


class S3:
    """The loopback S3 server, with a bucket, and helpers to put objects."""

    def __init__(self, server: Server) -> None:
        import s3fs

        self.server = server
        self.options = s3_options(server)
        self.fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.options)
        if not self.fs.exists(BUCKET):
            self.fs.call_s3("create_bucket", Bucket=BUCKET)

    def put(self, data: bytes, name: str | None = None) -> str:
        """Store ``data`` under a fresh (or the given) key; return its URL."""
        key = name or f"{uuid.uuid4().hex}.bin"
        self.fs.pipe_file(f"{BUCKET}/{key}", data)
        return f"s3://{BUCKET}/{key}"

    def gets(self, url: str) -> list[dict[str, Any]]:
        """The GET requests the server saw for ``url``'s object since the last reset."""
        path = "/" + url.removeprefix("s3://")
        return [r for r in self.server.log() if r["method"] == "GET" and r["path"] == path]

    def requests(self, url: str) -> list[dict[str, Any]]:
        path = "/" + url.removeprefix("s3://")
        return [r for r in self.server.log() if r["path"] == path]


class HTTP:
    """The loopback HTTP range server over a directory."""

    def __init__(self, server: Server) -> None:
        assert server.root is not None
        self.server = server
        self.root = server.root

    def put(self, data: bytes, name: str | None = None) -> str:
        key = name or f"{uuid.uuid4().hex}.bin"
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_bytes(data)
        temporary.replace(path)
        return f"{self.server.endpoint}/{key}"

    def requests(self, url: str) -> list[dict[str, Any]]:
        path = "/" + url.removeprefix(self.server.endpoint + "/")
        return [r for r in self.server.log() if r["path"] == path]

    def gets(self, url: str) -> list[dict[str, Any]]:
        return [r for r in self.requests(url) if r["method"] == "GET"]


@pytest.fixture(scope="session")
def s3_server() -> Any:
    server = start_server("s3")
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: Server) -> Any:
    s3_server.reset()
    yield S3(s3_server)
    s3_server.reset()  # no latency or fault outlives its test


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    server = start_server("http", tmp_path_factory.mktemp("http-root"))
    yield server
    server.stop()


@pytest.fixture
def http(http_server: Server) -> Any:
    http_server.reset()
    yield HTTP(http_server)
    http_server.reset()
