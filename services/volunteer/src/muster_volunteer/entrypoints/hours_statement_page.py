"""The hours statement as a page to print: one A4 sheet, in the volunteer's language
(`templates/hours_statement.html`, its labels here)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from muster_volunteer.domain.service_categories import Language

LABELS: dict[Language, dict[str, str]] = {
    "zh-CN": {
        "title": "志愿服务证明",
        "number": "编号",
        "certify": "兹证明 <b>{name}</b>（{home}）参加志愿服务，经组织单位审核认定，"
        "累计服务时长 <b>{hours}</b> 小时，星级 {stars}。",
        "date": "日期",
        "activity": "活动",
        "drive": "所属招募",
        "category": "类别",
        "place": "地点",
        "organised_by": "组织单位",
        "hours": "时长（小时）",
        "total": "合计",
        "none": "暂无经审核的服务记录。",
        "unknown": "—",
        "issued_by": "出具单位",
        "issued_at": "出具日期",
        "seal": "（盖章）",
        "colon": "：",
    },
    "en": {
        "title": "Volunteer service statement",
        "number": "No.",
        "certify": "This is to certify that <b>{name}</b> ({home}) has served as a volunteer. "
        "As approved by the organising units, the service totals <b>{hours}</b> hours "
        "(star rating {stars}).",
        "date": "Date",
        "activity": "Activity",
        "drive": "Drive",
        "category": "Category",
        "place": "Place",
        "organised_by": "Organised by",
        "hours": "Hours",
        "total": "Total",
        "none": "No approved service yet.",
        "unknown": "—",
        "issued_by": "Issued by",
        "issued_at": "Date of issue",
        "seal": "(seal)",
        "colon": ": ",
    },
}

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def render_statement(statement: Mapping[str, Any], lang: Language) -> str:
    """The statement as an HTML page in `lang` (names as `HoursStatements` gave them), from
    `templates/hours_statement.html`; every value is escaped."""
    labels = LABELS[lang]
    volunteer = statement["volunteer"]
    certify = Markup(labels["certify"]).format(
        name=volunteer["name"],
        home=" ".join(volunteer["home_area"]),
        hours=f"{statement['total_hours']:.1f}",
        stars=int(statement["stars"]),
    )
    page = TEMPLATES.get_template("hours_statement.html")
    return page.render(statement=statement, lang=lang, labels=labels, certify=certify)
