"""Run the reporting service (`python -m muster_reporting`), or rebuild its read models
from the event log while it keeps serving (`python -m muster_reporting rebuild`)."""

import functools

from muster_http.app import serve
from muster_reporting.bootstrap import ReportingSettings, build_app, rebuild_read_models
from muster_runtime.adapters.mongodb.service_rebuild import serve_or_rebuild


def main() -> None:
    serve_or_rebuild(
        "muster-reporting",
        __doc__,
        ReportingSettings,
        build_app,
        serve,
        lambda settings: functools.partial(rebuild_read_models, settings),
    )


if __name__ == "__main__":
    main()
