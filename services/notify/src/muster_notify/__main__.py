"""Run the notify service: `python -m muster_notify`."""

from muster_http.app import serve
from muster_notify.bootstrap import NotifySettings, build_app


def main() -> None:
    settings = NotifySettings()
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
