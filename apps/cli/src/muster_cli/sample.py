"""Realistic sample volunteers for the demo, benchmarks and tests (deterministic per seed)."""

from __future__ import annotations

import random
from typing import Any

from muster_contracts.areas import AreaLevel, load_area_tree

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华玉兰志强淑珍海燕桂芳晓东春梅红梅国庆建国文博子涵浩然思远雨萱"
EMPLOYERS = (
    "唐山市人民医院",
    "开滦集团",
    "路北区税务局",
    "唐山市第一中学",
    "国网唐山供电公司",
    "唐山市图书馆",
    "路北区人民法院",
    "河北银行唐山分行",
)
SKILL_POOL = (
    "general", "first_aid", "medical", "elderly_care", "child_care", "tutoring", "legal_aid",
    "counselling", "electrical_repair", "plumbing", "haircut", "cooking", "driving",
    "photography", "it_support", "patrol", "environment",
)  # fmt: skip


class SampleVolunteers:
    """Draws volunteers living in the sample district's buildings."""

    def __init__(self, seed: int = 7) -> None:
        self._random = random.Random(seed)
        self._buildings = [a.id for a in load_area_tree().at_level(AreaLevel.BUILDING)]
        self._phones: set[str] = set()

    def phone(self) -> str:
        while True:
            number = f"1{self._random.choice('3456789')}{self._random.randrange(10**9):09d}"
            if number not in self._phones:
                self._phones.add(number)
                return number

    def draw(self, home_area_id: str | None = None) -> dict[str, Any]:
        r = self._random
        name = r.choice(SURNAMES) + "".join(r.choice(GIVEN) for _ in range(r.choice((1, 2))))
        roll = r.random()
        categories = ["resident"]
        employer = None
        if roll < 0.30:
            categories = ["party_member", "resident"]
        elif roll < 0.40:
            categories = ["in_service_party_member", "party_member"]
            employer = r.choice(EMPLOYERS)
        elif roll < 0.55:
            categories = ["student"]
        elif roll < 0.65:
            categories = ["company_staff", "resident"]
        skills = sorted(set(r.sample(SKILL_POOL, r.choice((1, 1, 2, 3)))))
        return {
            "name": name,
            "phone": self.phone(),
            "home_area_id": home_area_id or r.choice(self._buildings),
            "categories": categories,
            "skills": skills,
            "birth_year": r.randrange(1950, 2008),
            "employer_unit": employer,
        }
