"""Run the reporting service (`python -m muster_reporting`), or rebuild its read models
from the event log while it keeps serving (`python -m muster_reporting rebuild`)."""

import argparse
import functools

from muster_http.app import serve
from muster_reporting.bootstrap import ReportingSettings, build_app, rebuild_read_models
from muster_runtime.adapters.mongodb.service_rebuild import add_rebuild_options, run_rebuild


def main() -> None:
    parser = argparse.ArgumentParser(prog="muster-reporting", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    add_rebuild_options(parser)
    args = parser.parse_args()
    settings = ReportingSettings()
    if args.command == "rebuild":
        run_rebuild(functools.partial(rebuild_read_models, settings), args)
        return
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
