"""HTTP server of the results dashboard (standard library ThreadingHTTPServer).

Routes:

- ``/`` and ``/static/<name>``: the page, its script and style, from this package.
- ``/api/overview``, ``/api/accuracy``, ``/api/heatmap``, ``/api/renders``,
  ``/api/render``: JSON (see ResultsApi), ``/api/channel``: a .npy channel as PNG.
- ``/files/<path>``: a file inside the output directory, such as an image.

Errors are JSON objects with an ``error`` message: 400 for invalid query
values, 403 for paths that leave the output directory or a foreign Host
header, 404 for unknown routes, ids and files.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import mimetypes
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pandas as pd

from threedb.analysis import ResultsTable

from ._api import NotFoundError, ResultsApi
from ._files import ForbiddenPathError, channel_png, resolve_inside
from ._query import QueryError

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("static")
STATIC_FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
# The page loads only its own script, style and images, which also blocks any CDN.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LOOPBACK_HOST_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class Response:
    """Status, body and headers of one HTTP response."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def json_ready(value: Any) -> Any:
    """Convert numpy and pandas values to JSON types, with None for NaN, infinities and NA."""
    if isinstance(value, dict):
        return {str(key): json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, np.ndarray):
        return [json_ready(item) for item in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def json_response(status: int, payload: Any) -> Response:
    """Encode ``payload`` as a JSON response that no cache keeps."""
    body = json.dumps(json_ready(payload), allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", {"Cache-Control": "no-store"})


def error_response(status: HTTPStatus, message: str, **details: Any) -> Response:
    """Build a JSON error response: ``{"error": message, "status": code, ...details}``."""
    return json_response(status, {"error": message, "status": int(status), **details})


class DashboardApp:
    """Routing of dashboard requests to static files, API endpoints and output-directory files.

    Before each API request, the app reads lines appended to details.log when at
    least ``refresh_interval`` seconds passed since the last check, so that a
    running experiment shows up without a restart.
    """

    def __init__(self, output_dir: str | os.PathLike[str], refresh_interval: float = 1.0,
                 allowed_hosts: frozenset[str] | None = None) -> None:
        self.table = ResultsTable(output_dir)
        self.api = ResultsApi(self.table)
        self.refresh_interval = refresh_interval
        self.allowed_hosts = allowed_hosts
        self._last_refresh = float("-inf")
        started = time.monotonic()
        self.table.refresh()
        logger.info("loaded %d results from %s in %.2f s", len(self.table.frame), self.table.tail.path,
                    time.monotonic() - started)

    @property
    def output_dir(self) -> Path:
        """The output directory that the dashboard serves."""
        return self.table.output_dir

    def refresh_if_due(self) -> None:
        """Read new details.log lines unless the last check was less than refresh_interval seconds ago."""
        now = time.monotonic()
        if now - self._last_refresh < self.refresh_interval:
            return
        self._last_refresh = now
        if self.table.refresh():
            logger.debug("results updated to version %d (%d rows)", self.table.version, len(self.table.frame))

    def handle(self, raw_path: str, host_header: str | None) -> Response:
        """Build the response to one GET request for ``raw_path`` (path and query string, as sent by the client)."""
        if not self.host_allowed(host_header):
            return error_response(HTTPStatus.FORBIDDEN, f"Host header {host_header!r} is not allowed; "
                                  "open the dashboard through the address it printed at start")
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            if path in ("/", "/index.html"):
                return self.static_file("index.html")
            if path == "/favicon.ico":
                return self.static_file("favicon.svg")
            if path.startswith("/static/"):
                return self.static_file(path[len("/static/"):])
            if path == "/api/channel":
                self.refresh_if_due()
                return self.channel(parts.query)
            if path in self.api.routes:
                self.refresh_if_due()
                return json_response(HTTPStatus.OK, self.api.routes[path](parts.query))
            if path.startswith("/files/"):
                return self.output_file(unquote(path[len("/files/"):]))
        except QueryError as error:
            logger.warning("rejected %s: %s", raw_path, error)
            return json_response(HTTPStatus.BAD_REQUEST, {**error.to_json(), "status": HTTPStatus.BAD_REQUEST})
        except ForbiddenPathError as error:
            logger.warning("rejected %s: %s", raw_path, error)
            return error_response(HTTPStatus.FORBIDDEN, str(error))
        except NotFoundError as error:
            logger.info("not found: %s: %s", raw_path, error)
            return error_response(HTTPStatus.NOT_FOUND, str(error))
        logger.info("not found: %s", raw_path)
        return error_response(HTTPStatus.NOT_FOUND, f"no such page or API endpoint: {path!r}",
                              endpoints=sorted(self.api.routes) + ["/api/channel",
                                                                   "/files/<path in the output directory>"])

    def host_allowed(self, host_header: str | None) -> bool:
        """Check the Host header against ``allowed_hosts``, which blocks DNS-rebinding pages from reading the API."""
        if self.allowed_hosts is None:
            return True
        if not host_header:
            return False
        host = host_header.strip().lower()
        if host.startswith("["):
            host = host[1:].split("]", 1)[0]
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        return host in self.allowed_hosts

    def static_file(self, name: str) -> Response:
        """Serve one of the page's own files from the package's static folder."""
        content_type = STATIC_FILES.get(name)
        if content_type is None:
            raise NotFoundError(f"static file {name!r} not found (files: {', '.join(sorted(STATIC_FILES))})")
        headers = {"Cache-Control": "no-cache"}
        if name == "index.html":
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return Response(HTTPStatus.OK, (STATIC_DIR / name).read_bytes(), content_type, headers)

    def output_file(self, relative: str) -> Response:
        """Serve a regular file inside the output directory. resolve_inside lists the paths it rejects."""
        path = resolve_inside(self.output_dir, relative)
        if path is None:
            raise NotFoundError(f"file {relative!r} not found in the output directory")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix.lower() in (".log", ".yaml", ".yml"):
            content_type = "text/plain; charset=utf-8"
        headers = {"Cache-Control": "no-cache", "Content-Security-Policy": "default-src 'none'; sandbox"}
        return Response(HTTPStatus.OK, path.read_bytes(), content_type, headers)

    def channel(self, query_string: str) -> Response:
        """Serve a .npy render channel (segmentation, depth, uv) converted to PNG."""
        channel, relative = self.api.channel_file(query_string)
        path = resolve_inside(self.output_dir, relative)
        if path is None:
            raise NotFoundError(f"file {relative!r} not found in the output directory")
        try:
            body = channel_png(path, channel)
        except (ValueError, OSError) as error:
            logger.warning("failed to convert %s to PNG: %s", path, error)
            return error_response(HTTPStatus.UNPROCESSABLE_ENTITY, f"cannot show {relative!r} as an image: {error}")
        return Response(HTTPStatus.OK, body, "image/png", {"Cache-Control": "no-cache"})


class _RequestHandler(BaseHTTPRequestHandler):
    server: "_DashboardHTTPServer"
    server_version = "threedb-dashboard"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        self._respond(send_body=True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(send_body=False)

    def _respond(self, send_body: bool) -> None:
        try:
            response = self.server.app.handle(self.path, self.headers.get("Host"))
        except Exception:
            logger.exception("request %s %s failed", self.command, self.path)
            response = error_response(HTTPStatus.INTERNAL_SERVER_ERROR,
                                      "internal error; the server log has the traceback")
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if send_body:
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError) as error:
            logger.debug("client closed the connection during %s: %s", self.path, error)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (signature fixed by the base class)
        logger.debug("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002
        logger.warning("%s %s", self.address_string(), format % args)


class _DashboardHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: DashboardApp, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.app = app
        super().__init__(address, _RequestHandler)


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names this machine only (localhost, 127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class DashboardServer:
    """The dashboard web server for one output directory.

    ``port`` 0 picks a free port, and ``url`` then contains the real one. When bound to a
    loopback address, requests must carry a loopback Host header.
    Raises OutputDirError for a bad output directory and OSError when the
    address cannot be bound.
    """

    def __init__(self, output_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000,
                 refresh_interval: float = 1.0) -> None:
        allowed_hosts = LOOPBACK_HOST_NAMES | {host.lower()} if is_loopback(host) else None
        self.app = DashboardApp(output_dir, refresh_interval, allowed_hosts)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.httpd = _DashboardHTTPServer((host, port), self.app, family)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the running server, such as ``http://127.0.0.1:8000/``."""
        host, port = self.httpd.server_address[:2]
        host_text = f"[{host}]" if ":" in str(host) else host
        return f"http://{host_text}:{port}/"

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve requests until shutdown() is called from another thread or KeyboardInterrupt.

        ``poll_interval`` (seconds) is how often the loop checks for shutdown, and so
        the longest time shutdown() waits.
        """
        logger.info("dashboard for %s serving at %s", self.app.output_dir, self.url)
        try:
            self.httpd.serve_forever(poll_interval)
        finally:
            logger.info("dashboard at %s stopped", self.url)

    def start(self) -> None:
        """Serve requests in a background daemon thread."""
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name="threedb-dashboard",
                                        daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Stop the background thread started by start(), if any, and close the socket."""
        if self._thread is not None:
            # shutdown() waits for serve_forever to return, so it is called only when a thread serves.
            self.httpd.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.httpd.server_close()
