"""Run the reporting service (`python -m muster_reporting`), or rebuild its read models
from the event log (`python -m muster_reporting rebuild`, with the service stopped)."""

import argparse
import asyncio

from muster_reporting.bootstrap import ReportingSettings, build_app, rebuild_read_models
from muster_runtime.http import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="muster-reporting", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    args = parser.parse_args()
    settings = ReportingSettings()
    if args.command == "rebuild":
        result = asyncio.run(rebuild_read_models(settings))
        print(
            f"replayed {result.events} events in {result.seconds:.2f} s ({result.rate:,.0f} events/s;"
            f" writing the read models took {result.write_seconds:.2f} s of it)"
        )
        if result.set_aside:
            print(f"set aside {result.set_aside} records it could not apply (muster dead-letters)")
        return
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
