"""Vendor the dashboard's charting library: ECharts from the npm registry, pinned and
checked against the registry's integrity hash, unpacked into the reporting package's
static files (git-ignored). Standard library only, so a bare Python image can run it.

    python tools/vendor_echarts.py          # idempotent: does nothing when already there
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.6.0"
TARBALL = f"https://registry.npmjs.org/echarts/-/echarts-{VERSION}.tgz"
# `npm view echarts@5.6.0 dist.integrity`
INTEGRITY = "sha512-oTbVTsXfKuEhxftHqL5xprgLoc0k7uScAwtryCgWF6hPYFLRwOUHiFmHGCBKP5NPFNkDVopOieyUqYGH8Fa3kA=="
MEMBER = "package/dist/echarts.min.js"
VENDOR = (
    Path(__file__).resolve().parents[1]
    / "services/reporting/src/muster_reporting/entrypoints/dashboard/vendor"
)


def integrity_of(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def vendor(into: Path = VENDOR, url: str = TARBALL) -> Path:
    target = into / "echarts.min.js"
    stamp = into / "echarts.version"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == VERSION:
        return target
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    if integrity_of(data) != INTEGRITY:
        raise SystemExit(f"echarts {VERSION}: the tarball from {url} fails its integrity check")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile(MEMBER)
        if member is None:
            raise SystemExit(f"echarts {VERSION}: {MEMBER} missing from the tarball")
        script = member.read()
    into.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(script)
    partial.replace(target)
    stamp.write_text(VERSION + "\n")
    return target


if __name__ == "__main__":
    path = vendor(Path(sys.argv[1]) if len(sys.argv) > 1 else VENDOR)
    print(f"echarts {VERSION}: {path} ({path.stat().st_size:,} bytes)")
