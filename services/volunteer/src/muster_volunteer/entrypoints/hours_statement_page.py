"""The hours statement as a page to print: one A4 sheet, in the volunteer's language."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

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

# One A4 sheet: the page box is A4 and the type is sized for a month of records on it.
STYLE = """
@page { size: A4; margin: 16mm 14mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Serif CJK SC", "Songti SC", "SimSun", serif; color: #111;
       max-width: 182mm; margin: 2em auto; font-size: 11pt; line-height: 1.45; }
h1 { text-align: center; font-size: 20pt; margin: 0 0 0.2em; }
h1:lang(zh-CN) { letter-spacing: 0.2em; }
.number { text-align: center; color: #444; margin: 0 0 1.2em; font-size: 9.5pt; }
table { width: 100%; border-collapse: collapse; font-size: 9.5pt; margin: 1em 0; }
th, td { border: 1px solid #444; padding: 0.25em 0.4em; vertical-align: top; text-align: left; }
th { background: #f2f2f2; }
td.hours, th.hours { text-align: right; white-space: nowrap; }
td.date { white-space: nowrap; }
.drive { display: block; color: #555; font-size: 8.5pt; }
.issuer { margin-top: 2em; text-align: right; }
.issuer .seal { display: inline-block; margin-left: 2em; color: #777; }
@media print {
  body { margin: 0; max-width: none; font-size: 10.5pt; }
  tr { break-inside: avoid; }
}
"""


def _hours(value: float) -> str:
    return f"{value:.1f}"


def _row(record: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    unknown = labels["unknown"]
    activity = escape(record.get("activity_title") or unknown)
    drive = record.get("drive_title")
    drive_line = (
        f'<span class="drive">{escape(labels["drive"])}{labels["colon"]}{escape(drive)}</span>'
        if drive
        else ""
    )
    return (
        f'<tr><td class="date">{escape(str(record["service_date"]))}</td>'
        f"<td>{activity}{drive_line}</td>"
        f"<td>{escape(record.get('category_name') or record['category'])}</td>"
        f"<td>{escape(record.get('place_name') or record['place_area_id'])}</td>"
        f"<td>{escape(record['organised_by']['name'])}</td>"
        f'<td class="hours">{_hours(record["hours"])}</td></tr>'
    )


def render_statement(statement: Mapping[str, Any], lang: Language) -> str:
    """The statement as an HTML page in `lang` (names as `HoursStatements` gave them)."""
    labels = LABELS[lang]
    volunteer = statement["volunteer"]
    certify = labels["certify"].format(
        name=escape(volunteer["name"]),
        home=escape(" ".join(volunteer["home_area"])),
        hours=_hours(statement["total_hours"]),
        stars=int(statement["stars"]),
    )
    records = statement["records"]
    head = "".join(
        f'<th class="{key}">{escape(labels[key])}</th>'
        for key in ("date", "activity", "category", "place", "organised_by", "hours")
    )
    rows = "".join(_row(r, labels) for r in records)
    table = (
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
        f'<tfoot><tr><th colspan="5">{escape(labels["total"])}</th>'
        f'<th class="hours">{_hours(statement["total_hours"])}</th></tr></tfoot></table>'
        if records
        else f"<p>{escape(labels['none'])}</p>"
    )
    number = escape(statement["statement_no"])
    issued_on = f"{statement['issued_at']:%Y-%m-%d}"
    colon = labels["colon"]
    return f"""<!doctype html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>{escape(labels["title"])} {number}</title>
<style>{STYLE}</style></head>
<body>
<h1>{escape(labels["title"])}</h1>
<p class="number">{escape(labels["number"])} {number}</p>
<p>{certify}</p>
{table}
<p class="issuer">{escape(labels["issued_by"])}{colon}{escape(statement["issued_by"])}<br>
{escape(labels["issued_at"])}{colon}{issued_on}<span class="seal">{escape(labels["seal"])}</span></p>
</body>
</html>
"""
