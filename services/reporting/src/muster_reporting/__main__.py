"""Run the reporting service: `python -m muster_reporting`."""

from muster_reporting.bootstrap import ReportingSettings, build_app
from muster_runtime.http import serve


def main() -> None:
    settings = ReportingSettings()
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
