"""Lighthouse (npm `lighthouse` 12.2.3, tools/lighthouse) on the volunteer page at mobile
settings, in Debian's Chromium: the home screen of a registered volunteer and the check-in
screen a QR code opens, signed in through the development sign-in. Prints the
accessibility, best-practices and performance scores (targets 95, 95, 90).

    python -m tools.lighthouse_pages [--pages-url http://127.0.0.1:8005]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from muster_cli.sample import SampleVolunteers

ROOT = Path(__file__).resolve().parents[1]
LIGHTHOUSE = ROOT / "tools" / "lighthouse" / "node_modules" / "lighthouse" / "cli" / "index.js"
CHROMIUM = Path("/usr/bin/chromium")
CATEGORIES = ("accessibility", "best-practices", "performance")
TARGETS = {"accessibility": 95, "best-practices": 95, "performance": 90}


def signed_in_volunteer(pages_url: str) -> str:
    """A development session of a registered volunteer: the session cookie's value."""
    login = f"lighthouse-{int(time.time())}"
    answer = httpx.get(
        f"{pages_url}/sign-in/dev", params={"subject": login}, follow_redirects=False, timeout=30
    )
    if answer.status_code != 303:
        raise SystemExit(
            f"the development sign-in answered {answer.status_code}: is MUSTER_DEV_MODE on?"
        )
    session = answer.cookies["muster_session"]
    with httpx.Client(base_url=pages_url, cookies={"muster_session": session}, timeout=30) as page:
        form = SampleVolunteers(seed=int(time.time())).draw()
        registered = page.post(
            "/api/volunteer/volunteers", json=form, headers={"Origin": pages_url}
        )
        if registered.status_code != 201:
            raise SystemExit(f"could not register: {registered.status_code} {registered.text}")
        deadline = time.monotonic() + 30  # the drive board learns of the volunteer by events
        while page.get("/api/volunteer/me/sign-ups").status_code != 200:
            if time.monotonic() > deadline:
                raise SystemExit("the volunteer is not known to their sign-ups after 30 s")
            time.sleep(0.2)
    return session


def scores(url: str, session: str, output: Path) -> dict[str, int]:
    """One Lighthouse run at its mobile defaults (a mid-range phone, simulated slow 4G)."""
    command = [
        "node", str(LIGHTHOUSE), url,
        f"--only-categories={','.join(CATEGORIES)}",
        "--output=json", f"--output-path={output}", "--quiet",
        "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        f"--extra-headers={json.dumps({'Cookie': f'muster_session={session}'})}",
    ]  # fmt: skip
    subprocess.run(
        command, check=True, env=os.environ | {"CHROME_PATH": str(CHROMIUM)}, timeout=300
    )
    report = json.loads(output.read_text())
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    port = os.environ.get("MUSTER_PAGES_PORT", "8005")
    parser.add_argument("--pages-url", default=f"http://127.0.0.1:{port}")
    parser.add_argument("--reports", default=str(ROOT / ".state" / "lighthouse"))
    args = parser.parse_args(argv)
    if shutil.which("node") is None or not LIGHTHOUSE.exists() or not CHROMIUM.exists():
        print("lighthouse: needs node, tools/lighthouse (make install) and /usr/bin/chromium")
        return 1
    reports = Path(args.reports)
    reports.mkdir(parents=True, exist_ok=True)
    session = signed_in_volunteer(args.pages_url)
    screens = {
        "home": f"{args.pages_url}/",
        "check-in": f"{args.pages_url}/check-in/lighthouse-activity?code=123456",
    }
    print(f"{'screen':<10} " + " ".join(f"{c:>15}" for c in CATEGORIES))
    missed = []
    for name, url in screens.items():
        measured = scores(url, session, reports / f"{name}.json")
        print(f"{name:<10} " + " ".join(f"{measured[c]:>15}" for c in CATEGORIES))
        missed += [
            f"{name} {c} {measured[c]} < {TARGETS[c]}"
            for c in CATEGORIES
            if measured[c] < TARGETS[c]
        ]
    print("targets    " + " ".join(f"{TARGETS[c]:>15}" for c in CATEGORIES))
    print(f"reports in {reports}/")
    for line in missed:
        print(f"below target: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
