"""Browser assets (the dashboard's charts, the API docs' Swagger UI and ReDoc) are taken only
if they are the pinned tarballs, byte for byte."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tools.vendor_npm import PINS, vendor

ECHARTS = PINS["echarts"]
MEMBER = next(iter(ECHARTS.files))


def _tarball(script: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        info = tarfile.TarInfo(MEMBER)
        info.size = len(script)
        archive.addfile(info, io.BytesIO(script))
    return out.getvalue()


@pytest.fixture
def registry() -> Iterator[str]:
    """A local stand-in for the registry that serves a look-alike, tampered tarball."""
    body = _tarball(b"window.echarts = {init() { /* not the real one */ }};")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/echarts.tgz"
    server.shutdown()


def test_a_tarball_that_fails_the_integrity_check_is_refused(registry: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="integrity"):
        vendor(ECHARTS, tmp_path, url=registry)

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", sorted(PINS))
def test_each_pin_is_an_npm_sha512_integrity(name: str) -> None:
    integrity = PINS[name].integrity
    assert integrity.startswith("sha512-")
    assert len(integrity) == len("sha512-") + 88  # base64 of 64 bytes
