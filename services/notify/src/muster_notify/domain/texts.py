"""How a message reads, in zh-CN and English: rendered when read, in the reader's language."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from muster_notify.domain.messages import Language, MessageKind

# Times are shown on the district's clock, as volunteers read them.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")

TEMPLATES: dict[MessageKind, dict[Language, tuple[str, str]]] = {
    MessageKind.DRIVE_LAUNCHED: {
        Language.ZH_CN: (
            "新招募：{drive_title}",
            "活动 {starts_at} 开始，报名截止 {signup_closes_at}。",
        ),
        Language.EN: (
            "New drive: {drive_title}",
            "It starts {starts_at}; sign up by {signup_closes_at}.",
        ),
    },
    MessageKind.SIGN_UP_ACCEPTED: {
        Language.ZH_CN: ("报名成功：{drive_title}", "您已被录用（岗位：{role_id}）。"),
        Language.EN: ("Accepted: {drive_title}", "You have a place (role: {role_id})."),
    },
    MessageKind.SIGN_UP_WAITLISTED: {
        Language.ZH_CN: ("候补中：{drive_title}", "名额已满，您在候补名单第 {position} 位。"),
        Language.EN: (
            "Waitlisted: {drive_title}",
            "The places are taken; you are number {position} on the waitlist.",
        ),
    },
    MessageKind.SIGN_UP_PROMOTED: {
        Language.ZH_CN: ("候补转正：{drive_title}", "有名额空出，您已被录用（岗位：{role_id}）。"),
        Language.EN: (
            "Off the waitlist: {drive_title}",
            "A place came free: you are accepted (role: {role_id}).",
        ),
    },
    MessageKind.SIGN_UP_DECLINED: {
        Language.ZH_CN: ("报名未通过：{drive_title}", "未满足的条件：{rule}。"),
        Language.EN: ("Sign-up declined: {drive_title}", "The rule not met: {rule}."),
    },
    MessageKind.SIGN_UP_WITHDRAWN: {
        Language.ZH_CN: ("报名已被取消：{drive_title}", "组织方取消了您的报名。{reason}"),
        Language.EN: (
            "Sign-up withdrawn: {drive_title}",
            "The organiser withdrew your sign-up. {reason}",
        ),
    },
    MessageKind.TEAM_ASSIGNED: {
        Language.ZH_CN: ("分队通知：{drive_title}", "您已编入服务队 {team_id}，队长：{leader}。"),
        Language.EN: (
            "Your team: {drive_title}",
            "You are in team {team_id}; its leader: {leader}.",
        ),
    },
    MessageKind.ACTIVITY_AMENDED: {
        Language.ZH_CN: ("活动变更：{activity_title}", "活动安排有变。{changes}{reason_note}"),
        Language.EN: (
            "Changed: {activity_title}",
            "The activity has changed. {changes}{reason_note}",
        ),
    },
    MessageKind.ACTIVITY_CANCELLED: {
        Language.ZH_CN: (
            "活动取消：{activity_title}",
            "原定 {starts_at} 的活动已取消。原因：{reason}",
        ),
        Language.EN: (
            "Cancelled: {activity_title}",
            "The activity at {starts_at} is called off. Reason: {reason}",
        ),
    },
    MessageKind.ACTIVITY_REMINDER: {
        Language.ZH_CN: (
            "活动提醒：{activity_title}",
            "活动将于 {starts_at} 开始（提前 {lead}）。{late}",
        ),
        Language.EN: (
            "Reminder: {activity_title}",
            "It starts {starts_at} ({lead} ahead).{late}",
        ),
    },
    MessageKind.CHECK_IN_OPEN: {
        Language.ZH_CN: (
            "可以签到了：{activity_title}",
            "活动 {starts_at} 开始，现在可以签到。{late}",
        ),
        Language.EN: (
            "Check-in is open: {activity_title}",
            "It starts {starts_at}; you can check in now.{late}",
        ),
    },
    MessageKind.HOURS_APPROVED: {
        Language.ZH_CN: (
            "服务时长已认定：{activity_title}",
            "{service_date} 认定服务时长 {hours} 小时。",
        ),
        Language.EN: (
            "Hours approved: {activity_title}",
            "{hours} h approved for {service_date}.",
        ),
    },
    MessageKind.STAR_REACHED: {
        Language.ZH_CN: ("恭喜您成为{stars}星志愿者", "累计服务时长已达 {hours} 小时。"),
        Language.EN: (
            "You are a {stars}-star volunteer",
            "Your approved service has reached {hours} hours.",
        ),
    },
}

UNKNOWN = {Language.ZH_CN: "（未知）", Language.EN: "(unknown)"}
LEADER_IS_YOU = {Language.ZH_CN: "您本人", Language.EN: "you"}
LEADER_ERASED = {Language.ZH_CN: "（已注销的志愿者）", Language.EN: "(an erased volunteer)"}


def _leader(params: dict[str, Any], values: dict[str, str], language: Language) -> str:
    """Who leads a team: "you", the leader's name as the reader may read it when they
    read (`leader_name`, never stored), an erased volunteer, or else the id stored."""
    if params.get("is_leader"):
        return LEADER_IS_YOU[language]
    if params.get("leader_name"):
        return str(params["leader_name"])
    if params.get("leader_status") == "erased":
        return LEADER_ERASED[language]
    return values.get("leader_id", "")


def render(kind: MessageKind, params: dict[str, Any], language: Language) -> tuple[str, str]:
    """The title and body of a message in `language`."""
    title, body = TEMPLATES[kind][language]
    values = {k: _shown(k, v, language) for k, v in params.items()}
    values["leader"] = _leader(params, values, language)
    values["lead"] = _lead(int(params.get("lead_minutes") or 0), language)
    values["late"] = _late(int(params.get("late_minutes") or 0), language)
    if kind is MessageKind.ACTIVITY_AMENDED:
        values["changes"] = _changes(params, values, language)
        reason = params.get("reason")
        values["reason_note"] = (
            ""
            if not reason
            else f"原因：{reason}"
            if language is Language.ZH_CN
            else f"Reason: {reason}"
        )
    minutes = params.get("minutes")
    values["hours"] = f"{int(minutes) / 60:g}" if minutes is not None else values.get("hours", "")
    return title.format_map(_Defaulting(values, language)), body.format_map(
        _Defaulting(values, language)
    )


class _Defaulting(dict[str, str]):
    def __init__(self, values: dict[str, str], language: Language) -> None:
        super().__init__(values)
        self._language = language

    def __missing__(self, key: str) -> str:
        return UNKNOWN[self._language]


def _shown(key: str, value: Any, language: Language) -> str:
    if value is None:
        return "" if key == "reason" else UNKNOWN[language]
    if key in ("starts_at", "ends_at", "was_starts_at", "signup_closes_at") and isinstance(
        value, str
    ):
        local = datetime.fromisoformat(value).astimezone(LOCAL_ZONE)
        return f"{local:%Y-%m-%d %H:%M}"
    return str(value)


CHANGE_TEXTS: dict[str, dict[Language, str]] = {
    "time": {
        Language.ZH_CN: "时间改为 {starts_at} 至 {ends_at}（原定 {was_starts_at} 开始）。",
        Language.EN: "Now {starts_at} to {ends_at} (it was to start {was_starts_at}). ",
    },
    "place": {
        Language.ZH_CN: "地点改为 {place}。",
        Language.EN: "Now at {place}. ",
    },
    "capacity": {
        Language.ZH_CN: "名额改为 {capacity} 人。",
        Language.EN: "Now {capacity} places. ",
    },
}


def _changes(params: dict[str, Any], values: dict[str, str], language: Language) -> str:
    """What an amendment changed, one sentence per aspect, with the new values."""
    shown = _Defaulting(values, language)
    return "".join(
        CHANGE_TEXTS[aspect][language].format_map(shown)
        for aspect in params.get("changed") or ()
        if aspect in CHANGE_TEXTS
    )


def _lead(minutes: int, language: Language) -> str:
    if minutes and minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} 小时" if language is Language.ZH_CN else f"{hours} h"
    return f"{minutes} 分钟" if language is Language.ZH_CN else f"{minutes} min"


def _late(minutes: int, language: Language) -> str:
    """A note on a message sent late (the service was down at its moment)."""
    if not minutes:
        return ""
    if language is Language.ZH_CN:
        return f"（本提醒因系统维护延迟 {minutes} 分钟送达）"
    return f" (This reminder is {minutes} min late: the service was down at its moment.)"


def language_of(preference: str | None, accept_language: str | None) -> Language:
    """The volunteer's chosen language; without a choice, the app's `Accept-Language` if
    it asks for English first; otherwise zh-CN, the district's language."""
    if preference in (Language.ZH_CN.value, Language.EN.value):
        return Language(preference)
    if accept_language:
        first = accept_language.split(",")[0].strip().lower()
        if first.startswith("en"):
            return Language.EN
    return Language.ZH_CN
