"""Writes docs/configuration.md from the services' settings models (`make docs`).

A test fails when the committed file differs from what this would write.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from muster_dispatch.bootstrap import DispatchSettings
from muster_notify.bootstrap import NotifySettings
from muster_pages.settings import PagesSettings
from muster_reporting.bootstrap import ReportingSettings
from muster_runtime.settings import ServiceSettings
from muster_volunteer.bootstrap import VolunteerSettings

TARGET = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
SERVICES: dict[str, type[BaseSettings]] = {
    "volunteer": VolunteerSettings,
    "dispatch": DispatchSettings,
    "reporting": ReportingSettings,
    "notify": NotifySettings,
    "pages": PagesSettings,
}


def _default(settings: type[BaseSettings], name: str) -> str:
    field = settings.model_fields[name]
    if "secret" in name or "pepper" in name:
        return "(development value; set in production)"
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "model_dump_json"):
        return f"`{value.model_dump_json()}`"
    return f"`{value}`" if value not in ("", None) else "—"


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "Every setting is an environment variable with the prefix `MUSTER_` (generated from the",
        "settings models by `make docs`; do not edit by hand).",
        "",
    ]
    shared = set.intersection(*(set(s.model_fields) for s in SERVICES.values()))
    lines += ["## Every service", "", "| variable | default | meaning |", "|---|---|---|"]
    any_settings: type[BaseSettings] = ServiceSettings
    for name in sorted(shared):
        description = (any_settings.model_fields[name].description or "").replace("|", "\\|")
        lines.append(
            f"| `MUSTER_{name.upper()}` | {_default(any_settings, name)} | {description} |"
        )
    for service, settings in SERVICES.items():
        own = sorted(set(settings.model_fields) - shared)
        defaults = [n for n in sorted(shared) if _default(settings, n) != _default(any_settings, n)]
        lines += ["", f"## {service}", "", "| variable | default | meaning |", "|---|---|---|"]
        for name in own + defaults:
            own_description = settings.model_fields[name].description
            base = ServiceSettings.model_fields.get(name)
            description = (own_description or (base.description if base else "") or "").replace(
                "|", "\\|"
            )
            lines.append(
                f"| `MUSTER_{name.upper()}` | {_default(settings, name)} | {description} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    TARGET.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")


if __name__ == "__main__":
    main()
