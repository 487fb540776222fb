"""Run the dispatch service (`python -m muster_dispatch`), or rebuild its read models from
the event log while it keeps serving (`python -m muster_dispatch rebuild`)."""

import argparse
import functools

from muster_dispatch.bootstrap import DispatchSettings, build_app, rebuild_read_models
from muster_http.app import serve
from muster_runtime.adapters.mongodb.service_rebuild import add_rebuild_options, run_rebuild


def main() -> None:
    parser = argparse.ArgumentParser(prog="muster-dispatch", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    add_rebuild_options(parser)
    args = parser.parse_args()
    settings = DispatchSettings()
    if args.command == "rebuild":
        run_rebuild(functools.partial(rebuild_read_models, settings), args)
        return
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
