"""Run the volunteer service: `python -m muster_volunteer`; its key commands:

python -m muster_volunteer create-key-file PATH   a new local key file (mode 0600), if missing
python -m muster_volunteer rotate-keys            a new KEK, then every data key re-wrapped
python -m muster_volunteer rewrap-keys            re-wrap the data keys not under the current KEK

and `python -m muster_volunteer rebuild [--dry-run]`: its read models rebuilt from the event
log while it keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
from pathlib import Path

from muster_auth.keys import LocalKeyFile
from muster_http.app import serve
from muster_runtime.adapters.mongodb.service_rebuild import add_rebuild_options, run_rebuild
from muster_runtime.mongo import connect
from muster_volunteer.adapters.personal_data import PersonalDataVault
from muster_volunteer.bootstrap import (
    VolunteerSettings,
    build_app,
    key_encryption_keys,
    rebuild_read_models,
)


async def _rewrap(settings: VolunteerSettings, *, rotate: bool) -> int:
    problems = settings.key_encryption_problems()
    if problems:
        print(problems[0], file=sys.stderr)
        return 2
    keks = key_encryption_keys(settings)
    if rotate:
        previous = await keks.current_key_id()
        print(f"key-encryption key {previous} -> {await keks.rotate()}", flush=True)
    client = connect(settings.mongo_url)
    try:
        vault = PersonalDataVault(client[settings.database_name], keks, cache_seconds=0)

        def progress(done: int, found: int) -> None:
            print(f"re-wrapped {done}/{found} data keys", flush=True)

        result = await vault.rewrap(progress)
    finally:
        await client.close()
    print(
        f"done: {result.rewrapped} of {result.found} data keys now wrapped under {result.key_id}; "
        "the sealed data is unchanged",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m muster_volunteer", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    create = commands.add_parser("create-key-file", help="write a new local key file if missing")
    create.add_argument("path", type=Path)
    commands.add_parser("rotate-keys", help="a new key-encryption key; re-wrap every data key")
    commands.add_parser(
        "rewrap-keys", help="re-wrap data keys under the current key-encryption key"
    )
    rebuild = commands.add_parser(
        "rebuild", help="rebuild the read models from the event log while the service runs"
    )
    add_rebuild_options(rebuild)
    args = parser.parse_args(argv)
    if args.command == "create-key-file":
        created = LocalKeyFile.create(args.path)
        print(f"{args.path}: {'created' if created else 'exists, left as it is'}")
        return 0
    settings = VolunteerSettings()
    if args.command == "rebuild":
        run_rebuild(functools.partial(rebuild_read_models, settings), args)
        return 0
    if args.command in {"rotate-keys", "rewrap-keys"}:
        return asyncio.run(_rewrap(settings, rotate=args.command == "rotate-keys"))
    serve(build_app(settings), settings.http_host, settings.http_port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
