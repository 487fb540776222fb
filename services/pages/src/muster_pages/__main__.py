"""Run the pages service: `python -m muster_pages`."""

from muster_http.app import serve
from muster_pages.bootstrap import build_app
from muster_pages.settings import PagesSettings


def main() -> None:
    settings = PagesSettings()
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
