"""Vendor the browser assets the services serve themselves, from the npm registry: the
dashboard's ECharts, the organisers' console's QR code generator, and Swagger UI and ReDoc for every service's `/docs` and `/redoc`.
Each package is pinned and checked against the registry's sha512 integrity, and the files
it needs are unpacked into a git-ignored `vendor/` beside the code that serves them, so no
page of a service loads anything from outside it. Standard library only, so a bare Python
image can run it.

    python tools/vendor_npm.py                  # every package; idempotent
    python tools/vendor_npm.py echarts          # only the packages named
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "services/reporting/src/muster_reporting/entrypoints/dashboard/vendor"
API_DOCS = ROOT / "libs/http/src/muster_http/api_docs"
CONSOLE = ROOT / "services/pages/src/muster_pages/entrypoints/static/console/vendor"


@dataclass(frozen=True)
class Pin:
    """One npm package: its version, `npm view NAME@VERSION dist.integrity`, and which files
    of its tarball go where (path in the tarball -> file name)."""

    name: str
    version: str
    integrity: str
    files: dict[str, str]
    into: Path

    @property
    def tarball(self) -> str:
        return f"https://registry.npmjs.org/{self.name}/-/{self.name}-{self.version}.tgz"


PINS = {
    pin.name: pin
    for pin in (
        Pin(
            "echarts",
            "5.6.0",
            "sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA==",
            {"package/dist/echarts.min.js": "echarts.min.js"},
            DASHBOARD,
        ),
        Pin(
            "swagger-ui-dist",
            "5.35.0",
            "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
            {
                "package/swagger-ui-bundle.js": "swagger-ui-bundle.js",
                "package/swagger-ui.css": "swagger-ui.css",
                "package/favicon-32x32.png": "favicon-32x32.png",
            },
            API_DOCS,
        ),
        Pin(
            "redoc",
            "2.5.4",
            "sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
            {"package/bundles/redoc.standalone.js": "redoc.standalone.js"},
            API_DOCS,
        ),
        Pin(
            "qrcode-generator",
            "2.0.4",
            "sha512-mZSiP6RnbHl4xL2Ap5HfkjLnmxfKcPWpWe/c+5XxCuetEenqmNFf1FH/ftXPCtFG5/TDobjsjz6sSNL0Sr8Z9g==",
            {"package/dist/qrcode.mjs": "qrcode.mjs"},
            CONSOLE,
        ),
    )
}


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def vendor(pin: Pin, into: Path | None = None, url: str | None = None) -> Path:
    """Unpack `pin`'s files into `into` (default: where the service serves them from)."""
    into = into or pin.into
    stamp = into / f"{pin.name}.version"
    present = all((into / name).exists() for name in pin.files.values())
    if present and stamp.exists() and stamp.read_text().strip() == pin.version:
        return into
    source = url or pin.tarball
    with urllib.request.urlopen(source, timeout=120) as response:
        data = response.read()
    if integrity_of(data) != pin.integrity:
        raise SystemExit(
            f"{pin.name} {pin.version}: the tarball from {source} fails its integrity check"
        )
    unpacked: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        for member, name in pin.files.items():
            packed = archive.extractfile(member)
            if packed is None:
                raise SystemExit(f"{pin.name} {pin.version}: {member} missing from the tarball")
            unpacked[name] = packed.read()
    into.mkdir(parents=True, exist_ok=True)
    for name, content in unpacked.items():
        partial = (into / name).with_suffix(".partial")
        partial.write_bytes(content)
        partial.replace(into / name)
    stamp.write_text(pin.version + "\n")
    return into


if __name__ == "__main__":
    names = sys.argv[1:] or list(PINS)
    unknown = set(names) - set(PINS)
    if unknown:
        raise SystemExit(
            f"not pinned here: {', '.join(sorted(unknown))} (known: {', '.join(PINS)})"
        )
    for name in names:
        pin = PINS[name]
        print(f"{pin.name} {pin.version}: {vendor(pin)}")
