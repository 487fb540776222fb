"""Run the volunteer service: `python -m muster_volunteer`."""

from muster_runtime.http import serve
from muster_volunteer.bootstrap import VolunteerSettings, build_app


def main() -> None:
    settings = VolunteerSettings()
    serve(build_app(settings), settings.http_host, settings.http_port)


if __name__ == "__main__":
    main()
