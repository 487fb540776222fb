"""Run the reporting service (`python -m muster_reporting`), or rebuild its read models
from the event log while it keeps serving (`python -m muster_reporting rebuild`)."""

import argparse
import asyncio
import os

from muster_reporting.bootstrap import ReportingSettings, build_app, rebuild_read_models
from muster_runtime.adapters.mongodb.online_rebuild import OnlineRebuildResult
from muster_runtime.http import serve

# Tests set it to stop a rebuild just before its switch, and kill it there.
HOLD_BEFORE_SWITCH = "MUSTER_REBUILD_HOLD_BEFORE_SWITCH"


async def _hold() -> None:
    print("holding before the switch", flush=True)
    await asyncio.Event().wait()


def report(result: OnlineRebuildResult, dry_run: bool) -> None:
    print(
        f"replayed {result.events} events in {result.seconds:.2f} s ({result.rate:,.0f} events/s;"
        f" writing the read models took {result.write_seconds:.2f} s of it, reading and folding"
        f" the log {result.fold_seconds:.2f} s), then caught up {result.caught_up} more"
    )
    if dry_run:
        if not result.changes:
            print("dry run: the rebuilt read models equal the live ones; nothing would change")
        for change in result.changes:
            print(
                f"dry run: {change.collection}: {change.added} documents would be added,"
                f" {change.removed} removed, {change.changed} changed"
            )
    else:
        print(f"reads and writes now go to read models version {result.version}")
    if result.set_aside:
        print(f"set aside {result.set_aside} records it could not apply (muster dead-letters)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="muster-reporting", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="rebuild: build the new version, report what would change, drop it",
    )
    parser.add_argument("--no-progress", action="store_true", help="rebuild: no progress bars")
    args = parser.parse_args()
    settings = ReportingSettings()
    if args.command == "rebuild":
        result = asyncio.run(
            rebuild_read_models(
                settings,
                dry_run=args.dry_run,
                show_progress=not args.no_progress,
                before_switch=_hold if os.environ.get(HOLD_BEFORE_SWITCH) else None,
            )
        )
        report(result, args.dry_run)
        return
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
