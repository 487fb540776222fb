"""Run the dispatch service: `python -m muster_dispatch`."""

from muster_dispatch.bootstrap import DispatchSettings, build_app
from muster_runtime.http import serve


def main() -> None:
    settings = DispatchSettings()
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
