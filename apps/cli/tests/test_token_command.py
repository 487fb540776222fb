"""`muster token` mints development tokens in scripts, many at a time: it stays light."""

from __future__ import annotations

import subprocess
import sys


def test_muster_token_imports_neither_pydantic_nor_pyjwt_nor_the_web_framework() -> None:
    probe = (
        "import sys\n"
        "from muster_cli import main\n"
        "assert main(['token', '--subject', 'li', '--role', 'leader']) == 0\n"
        "print(sorted(m for m in ('pydantic', 'jwt', 'fastapi', 'asyncio') if m in sys.modules))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    token, loaded = run.stdout.splitlines()
    assert token.count(".") == 2
    assert loaded == "[]"
