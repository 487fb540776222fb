"""Service categories as a person reads them, in the languages Muster speaks."""

from __future__ import annotations

from typing import Literal

from muster_contracts.events.drives import ServiceCategory

Language = Literal["zh-CN", "en"]

CATEGORY_NAMES: dict[Language, dict[ServiceCategory, str]] = {
    "zh-CN": {
        ServiceCategory.ELDERLY_CARE: "为老服务",
        ServiceCategory.ENVIRONMENT: "环境整治",
        ServiceCategory.PATROL: "治安巡逻",
        ServiceCategory.EPIDEMIC_PREVENTION: "疫情防控",
        ServiceCategory.CIVILISED_CITY: "文明城市创建",
        ServiceCategory.EDUCATION: "助学服务",
        ServiceCategory.LEGAL_AID: "法律援助",
        ServiceCategory.CULTURE: "文化活动",
        ServiceCategory.EMERGENCY: "应急救援",
        ServiceCategory.OTHER: "其他",
    },
    "en": {
        ServiceCategory.ELDERLY_CARE: "Elderly care",
        ServiceCategory.ENVIRONMENT: "Environment",
        ServiceCategory.PATROL: "Community patrol",
        ServiceCategory.EPIDEMIC_PREVENTION: "Epidemic prevention",
        ServiceCategory.CIVILISED_CITY: "Civilised city",
        ServiceCategory.EDUCATION: "Education",
        ServiceCategory.LEGAL_AID: "Legal aid",
        ServiceCategory.CULTURE: "Culture",
        ServiceCategory.EMERGENCY: "Emergency response",
        ServiceCategory.OTHER: "Other",
    },
}


def category_name(category: str, lang: Language) -> str:
    """The category's name in `lang`; an activity's own category (free text) as it is."""
    try:
        return CATEGORY_NAMES[lang][ServiceCategory(category)]
    except ValueError:
        return category
