"""Loopback servers for the remote tests: an S3 API (moto) and an HTTP range server.

Run as a script, it serves on 127.0.0.1 and prints its port on the first line::

    python tests/remote_servers.py s3
    python tests/remote_servers.py http --root DIR

Both sit behind one WSGI middleware that logs every request (method, path,
Range, status, bytes sent), can add latency, and injects faults. The tests
drive it through ``/__control__/`` paths, which no S3 bucket name or test file
can clash with (bucket names may not contain underscores):

- ``GET /__control__/log``: the requests since the last reset, as JSON;
- ``POST /__control__/reset``: clear the log, the latency and the faults;
- ``POST /__control__/config``: JSON ``{"latency": seconds, "faults": [...],
  "ignore_ranges": bool, "fast_ranges": bool, "bandwidth": bytes_per_second}``
  (``fast_ranges``: answer range GETs from a copy of the object, see
  ``Middleware.fast_range``; ``bandwidth``: hold each answer's body to it). A fault is
  ``{"status": 503}``, ``{"short": n}`` (drop the last n bytes of the body),
  ``{"reset": true}`` (close the connection with no answer) or
  ``{"hang": seconds}``, each with optional ``"times"`` (default 1),
  ``"method"`` and ``"path"`` (a substring) filters.

Connections are kept alive (HTTP/1.1, see ``KeepAliveGateway``), so a
client's requests are not slowed by the server closing every connection.
"""

from __future__ import annotations

import argparse
import email.utils
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import unquote

CONTROL = "/__control__/"


class Middleware:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.log: list[dict[str, Any]] = []
        self.latency = 0.0
        self.faults: list[dict[str, Any]] = []
        self.ignore_ranges = False
        self.fast_ranges = False
        #: bytes per second each answer's body is held to (0: no limit)
        self.bandwidth = 0.0
        #: path -> (ETag, content), for fast ranges
        self.objects: dict[str, tuple[str, bytes]] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self.control(path[len(CONTROL) :], environ, start_response)
        method = environ["REQUEST_METHOD"]
        record = {
            "method": method,
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "range": environ.get("HTTP_RANGE"),
            "if_match": environ.get("HTTP_IF_MATCH"),
            "client_port": environ.get("REMOTE_PORT"),
            "connection": environ.get("HTTP_CONNECTION"),
            "status": None,
            "bytes": 0,
            "start": time.monotonic(),
            "end": None,
        }
        with self.lock:
            self.log.append(record)
            latency = self.latency
            fault = self.take_fault(method, path)
            if self.ignore_ranges:
                environ.pop("HTTP_RANGE", None)
        if latency:
            time.sleep(latency)
        if fault is not None:
            result = self.inject(fault, environ, start_response, record)
            if result is not None:
                return result
        if method != "GET" or environ.get("QUERY_STRING"):
            with self.lock:
                self.objects.pop(path, None)  # written or deleted: no stale copy
        elif self.fast_ranges and environ.get("HTTP_RANGE"):
            answer = self.fast_range(environ, start_response, record)
            if answer is not None:
                return answer
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], _exc_info: Any = None) -> Any:
            captured["status"] = status
            captured["headers"] = headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        if fault is not None and "short" in fault:
            body = body[: max(0, len(body) - int(fault["short"]))]
        headers = captured["headers"]
        if method != "HEAD":  # a HEAD answer keeps the length of what a GET would send
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
        record["status"] = int(captured["status"].split()[0])
        record["bytes"] = len(body) if method != "HEAD" else 0
        self.throttle(record["bytes"])
        record["end"] = time.monotonic()
        start_response(captured["status"], headers)
        return [body] if method != "HEAD" else [b""]

    def fast_range(self, environ: dict[str, Any], start_response: Any, record: Any) -> Any:
        """Answer a range GET from a copy of the object, as a thin layer in front of moto.

        moto copies the whole object for every ranged GET; a benchmark of the
        client should not measure that. The copy is fetched from moto once
        (and again after any write to the path); If-Match and Range are
        answered as S3 does.
        """
        path = environ["PATH_INFO"]
        with self.lock:
            stored = self.objects.get(path)
        if stored is None:
            inner = {k: v for k, v in environ.items() if k not in ("HTTP_RANGE", "HTTP_IF_MATCH")}
            captured: dict[str, Any] = {}

            def capture(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> Any:
                captured["status"], captured["headers"] = status, dict(headers)
                return lambda _data: None

            body = b"".join(self.app(inner, capture))
            if not captured["status"].startswith("200"):
                return None
            stored = (captured["headers"]["ETag"], body)
            with self.lock:
                self.objects[path] = stored
        etag, data = stored
        condition = environ.get("HTTP_IF_MATCH")
        if condition is not None and condition.strip('"') != etag.strip('"'):
            return self.reply(
                start_response, record, 412, [], b"<Error><Code>PreconditionFailed</Code></Error>"
            )
        first, _, last = environ["HTTP_RANGE"].removeprefix("bytes=").partition("-")
        size = len(data)
        start, end = (
            (max(0, size - int(last)), size)
            if not first
            else (int(first), min(size, int(last) + 1))
        )
        if start >= end:
            return self.reply(
                start_response, record, 416, [], b"<Error><Code>InvalidRange</Code></Error>"
            )
        headers = [("ETag", etag), ("Content-Range", f"bytes {start}-{end - 1}/{size}")]
        return self.reply(start_response, record, 206, headers, data[start:end])

    def throttle(self, size: int) -> None:
        """Take as long as ``size`` bytes take at the configured bandwidth."""
        if self.bandwidth:
            time.sleep(size / self.bandwidth)

    def reply(
        self,
        start_response: Any,
        record: Any,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Any:
        self.throttle(len(body))
        record["status"], record["bytes"], record["end"] = status, len(body), time.monotonic()
        start_response(f"{status} X", [*headers, ("Content-Length", str(len(body)))])
        return [body]

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.get("method", method) != method or fault.get("path", "") not in path:
                continue
            fault["times"] = fault.get("times", 1) - 1
            if fault["times"] <= 0:
                self.faults.remove(fault)
            return dict(fault)
        return None

    def inject(
        self, fault: dict[str, Any], environ: dict[str, Any], start_response: Any, record: Any
    ) -> Any:
        if "hang" in fault:
            time.sleep(float(fault["hang"]))
            return None
        if fault.get("reset"):
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                sock.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                sock.shutdown(socket.SHUT_RDWR)
            record["status"] = "reset"
            msg = "injected connection reset"
            raise ConnectionAbortedError(msg)
        if "status" in fault:
            status = int(fault["status"])
            body = (
                f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>Injected{status}</Code>"
                f"<Message>injected fault</Message></Error>"
            ).encode()
            record["status"] = status
            record["end"] = time.monotonic()
            start_response(
                f"{status} Injected",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        return None

    def control(self, command: str, environ: dict[str, Any], start_response: Any) -> Any:
        answer: Any = {"ok": True}
        with self.lock:
            if command == "log":
                answer = list(self.log)
            elif command == "reset":
                self.log.clear()
                self.faults.clear()
                self.latency = 0.0
                self.ignore_ranges = False
                self.fast_ranges = False
                self.bandwidth = 0.0
            elif command == "config":
                length = int(environ.get("CONTENT_LENGTH") or 0)
                config = json.loads(environ["wsgi.input"].read(length) or b"{}")
                self.latency = float(config.get("latency", self.latency))
                self.faults.extend(config.get("faults", []))
                self.ignore_ranges = bool(config.get("ignore_ranges", self.ignore_ranges))
                self.fast_ranges = bool(config.get("fast_ranges", self.fast_ranges))
                self.bandwidth = float(config.get("bandwidth", self.bandwidth))
        body = json.dumps(answer).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]


class RangeFileApp:
    """A static file server with single byte ranges, ETags and If-Match (RFC 9110)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        relative = environ.get("PATH_INFO", "").lstrip("/")
        path = (self.root / relative).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            return self.reply(start_response, "404 Not Found", [], b"not found")
        if relative.startswith("private/"):
            return self.reply(start_response, "403 Forbidden", [], b"forbidden")
        data = path.read_bytes()
        stat = path.stat()
        etag = f'"{stat.st_ino:x}-{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        headers = [("ETag", etag), ("Last-Modified", modified), ("Accept-Ranges", "bytes")]
        condition = environ.get("HTTP_IF_MATCH")
        if condition is not None and condition not in ("*", etag):
            return self.reply(start_response, "412 Precondition Failed", headers, b"")
        size = len(data)
        spec = environ.get("HTTP_RANGE")
        if not spec:
            return self.reply(start_response, "200 OK", headers, data)
        first, _, last = spec.removeprefix("bytes=").partition("-")
        if not first:
            start, end = max(0, size - int(last)), size
        else:
            start, end = int(first), min(size, int(last) + 1 if last else size)
        if start >= size or start >= end:
            headers.append(("Content-Range", f"bytes */{size}"))
            return self.reply(start_response, "416 Range Not Satisfiable", headers, b"")
        headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        return self.reply(start_response, "206 Partial Content", headers, data[start:end])

    @staticmethod
    def reply(start_response: Any, status: str, headers: list[tuple[str, str]], body: bytes) -> Any:
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]


class KeepAliveGateway(BaseHTTPRequestHandler):
    """A minimal WSGI gateway that keeps connections alive (HTTP/1.1).

    Werkzeug's development server closes every connection, so each request
    would pay for a new one; real object stores keep them open.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms stall
    app: Any = None

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            self.serve()
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def serve(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "CONTENT_LENGTH": str(length),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": BytesIO(self.rfile.read(length)),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = f"{environ[name]},{value}" if name in environ else value
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> Any:
            response["status"], response["headers"] = status, headers
            return lambda _data: None

        try:
            body = b"".join(self.app(environ, start_response))
        except ConnectionAbortedError:  # an injected reset
            self.close_connection = True
            return
        code, _, reason = response["status"].partition(" ")
        self.send_response_only(int(code), reason)
        names = set()
        for key, value in response["headers"]:
            names.add(key.lower())
            self.send_header(key, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["s3", "http"])
    parser.add_argument("--root", type=Path)
    args = parser.parse_args()
    if args.kind == "s3":
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            create_backend_app,
        )

        app: Any = DomainDispatcherApplication(create_backend_app)
    else:
        app = RangeFileApp(args.root)
    KeepAliveGateway.app = Middleware(app)
    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAliveGateway)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)  # noqa: T201 - the parent reads the port
    # The parent closes our stdin when it is done (or dies): stop then.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
