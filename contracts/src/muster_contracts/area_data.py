"""Deterministic generator of the packaged 唐山市路北区 area sample (data/areas-lubei.json).

Run `python -m muster_contracts.area_data [--output PATH]` after changing this file.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

from muster_contracts.areas import PACKAGED_AREAS_FILE, Area, AreaLevel, AreaTree

if TYPE_CHECKING:
    from collections.abc import Sequence

SEED = 1302
DEFAULT_OUTPUT = Path(__file__).parent / "data" / PACKAGED_AREAS_FILE

CITY = ("1302", "唐山市")
DISTRICT = ("130203", "路北区")
# Street names from the district; ids follow in this order (130203001, 130203002, ...).
STREETS = (
    "乔屯街道",
    "文化路街道",
    "钓鱼台街道",
    "东新街街道",
    "广场街道",
    "机场路街道",
    "河北路街道",
    "龙东街道",
    "大里街道",
    "光明街道",
    "翔云道街道",
)
# Totals from the newspaper report: 175 communities, 2257 grids, "6000余栋" buildings.
COMMUNITY_TOTAL = 175
GRID_TOTAL = 2257
BUILDING_TOTAL = 6113

# Named in the report or well known; pinned to a street so generation cannot drop them.
# A multi-name entry is one estate split into adjacent sibling communities.
_PINNED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("翔云道街道", ("裕华嘉苑第一社区", "裕华嘉苑第二社区")),
    ("龙东街道", ("龙泽南楼社区",)),
    ("钓鱼台街道", ("凤凰园社区",)),
    ("机场路街道", ("鹭港社区",)),
    ("光明街道", ("华岩北路社区",)),
)
_PREFIXES = (
    "建华", "华新", "友谊", "新华", "缸窑", "卫国", "建设", "北新", "长宁", "世纪",
    "唐城", "荣华", "福润", "凤城", "御景", "盛世", "康庄", "和平", "学院", "果园",
    "朝阳", "复兴", "光华", "锦绣", "金地", "碧水", "丽景", "翠湖", "青龙", "龙华",
    "龙富", "祥和", "胜利", "幸福", "钢城", "陶瓷", "电瓷", "兴业", "开滦", "华夏",
    "东方", "阳光", "益民", "安居", "泰和", "银河", "凤翔", "文北", "德胜", "西山",
    "新城", "龙泉", "裕民", "惠民", "天元", "华北", "北湖", "丰华", "永新", "怡和",
)  # fmt: skip
_SUFFIXES = (
    "里", "楼", "南楼", "北楼", "东楼", "西楼", "园", "苑", "嘉苑", "花园",
    "新村", "家园", "北里", "南里", "东里", "西里", "公寓", "新区", "北路", "南路",
)  # fmt: skip
_ORDINALS = ("第一", "第二")
# At most this many communities share a prefix, so names stay varied.
_MAX_PER_PREFIX = 3
# How many generated estates are split into sibling communities, as 裕华嘉苑 is.
_SPLIT_ESTATES = 5


def _apportion(total: int, weights: Sequence[float], low: int, high: int) -> list[int]:
    """Split `total` into len(weights) integers in [low, high], proportional to `weights`."""
    n = len(weights)
    if not n * low <= total <= n * high:
        raise ValueError(f"cannot split {total} into {n} parts within [{low}, {high}]")
    counts = [low] * n
    room = total - n * low
    span = high - low
    active = list(range(n))
    quotas: dict[int, float] = {}
    # Parts whose share would overflow `high` are pinned there and the rest re-split.
    while active:
        weight_sum = sum(weights[i] for i in active)
        quotas = {i: room * weights[i] / weight_sum for i in active}
        capped = {i for i in active if quotas[i] >= span}
        if not capped:
            break
        for i in capped:
            counts[i] = high
        room -= span * len(capped)
        active = [i for i in active if i not in capped]
    # Largest remainder: floors first, then one more unit for the biggest fractions.
    for i in active:
        counts[i] += int(quotas[i])
    leftover = room - sum(int(quotas[i]) for i in active)
    for i in sorted(active, key=lambda i: (int(quotas[i]) - quotas[i], i))[:leftover]:
        counts[i] += 1
    return counts


def _community_names(rng: random.Random) -> list[tuple[str, list[list[str]]]]:
    """Community names per street, estates split into siblings kept adjacent."""
    pinned_names = {name for _, names in _PINNED for name in names}
    pinned_count = len(pinned_names)
    candidates = [p + s for p in _PREFIXES for s in _SUFFIXES]
    rng.shuffle(candidates)
    estates: list[str] = []
    per_prefix: dict[str, int] = {}
    # Each split estate yields two communities, so it needs one name fewer.
    wanted = COMMUNITY_TOTAL - pinned_count - _SPLIT_ESTATES
    for base in candidates:
        prefix = base[:2]
        if per_prefix.get(prefix, 0) >= _MAX_PER_PREFIX or f"{base}社区" in pinned_names:
            continue
        per_prefix[prefix] = per_prefix.get(prefix, 0) + 1
        estates.append(base)
        if len(estates) == wanted:
            break
    units = [[f"{base}{ordinal}社区" for ordinal in _ORDINALS] for base in estates[:_SPLIT_ESTATES]]
    units += [[f"{base}社区"] for base in estates[_SPLIT_ESTATES:]]

    weights = [rng.lognormvariate(0, 0.35) for _ in STREETS]
    capacity = dict(zip(STREETS, _apportion(COMMUNITY_TOTAL, weights, 9, 26), strict=True))
    placed: dict[str, list[list[str]]] = {street: [] for street in STREETS}

    def place(street: str, unit: list[str]) -> None:
        placed[street].append(unit)
        capacity[street] -= len(unit)

    for street, names in _PINNED:
        place(street, list(names))
    for unit in units:
        if len(unit) > 1:
            place(rng.choice([s for s in STREETS if capacity[s] >= len(unit)]), unit)
    singles = iter(unit for unit in units if len(unit) == 1)
    for street in STREETS:
        while capacity[street]:
            place(street, next(singles))
    for street_units in placed.values():
        rng.shuffle(street_units)
    return list(placed.items())


def generate_areas(seed: int = SEED) -> list[Area]:
    """The whole district sample, top down; the same seed always gives the same areas."""
    rng = random.Random(seed)
    city_id, city_name = CITY
    district_id, district_name = DISTRICT
    areas = [
        Area(id=city_id, name=city_name, level=AreaLevel.CITY, parent_id=None),
        Area(id=district_id, name=district_name, level=AreaLevel.DISTRICT, parent_id=city_id),
    ]
    communities: list[Area] = []
    for street_no, (street_name, units) in enumerate(_community_names(rng), start=1):
        street_id = f"{district_id}{street_no:03d}"
        areas.append(
            Area(id=street_id, name=street_name, level=AreaLevel.STREET, parent_id=district_id)
        )
        names = [name for unit in units for name in unit]
        for community_no, name in enumerate(names, start=1):
            community = Area(
                id=f"{street_id}{community_no:03d}",
                name=name,
                level=AreaLevel.COMMUNITY,
                parent_id=street_id,
            )
            communities.append(community)
    areas.extend(communities)

    grid_weights = [rng.lognormvariate(0, 0.4) for _ in communities]
    grid_counts = _apportion(GRID_TOTAL, grid_weights, 5, 30)
    building_weights = [rng.lognormvariate(0, 0.6) for _ in range(GRID_TOTAL)]
    building_counts = iter(_apportion(BUILDING_TOTAL, building_weights, 1, 5))
    grids: list[Area] = []
    buildings: list[Area] = []
    for community, grid_count in zip(communities, grid_counts, strict=True):
        # Buildings are numbered through the whole community, as on the estates' signs.
        building_suffix = "号楼" if rng.random() < 0.7 else "栋"
        building_no = 0
        for grid_no in range(1, grid_count + 1):
            grid_id = f"{community.id}{grid_no:02d}"
            grids.append(
                Area(
                    id=grid_id,
                    name=f"第{grid_no:02d}网格",
                    level=AreaLevel.GRID,
                    parent_id=community.id,
                )
            )
            for slot in range(1, next(building_counts) + 1):
                building_no += 1
                buildings.append(
                    Area(
                        id=f"{grid_id}{slot:02d}",
                        name=f"{building_no}{building_suffix}",
                        level=AreaLevel.BUILDING,
                        parent_id=grid_id,
                    )
                )
    areas.extend(grids)
    areas.extend(buildings)
    _check(areas)
    return areas


def _check(areas: list[Area]) -> None:
    """Refuse to emit data that would not load or that misses the report's totals."""
    tree = AreaTree(areas)
    expected = {
        AreaLevel.CITY: 1,
        AreaLevel.DISTRICT: 1,
        AreaLevel.STREET: len(STREETS),
        AreaLevel.COMMUNITY: COMMUNITY_TOTAL,
        AreaLevel.GRID: GRID_TOTAL,
        AreaLevel.BUILDING: BUILDING_TOTAL,
    }
    actual = {level: len(tree.at_level(level)) for level in AreaLevel}
    if actual != expected:
        raise RuntimeError(f"generated counts {actual} differ from {expected}")
    names = [a.name for a in tree.at_level(AreaLevel.COMMUNITY)]
    if len(set(names)) != len(names):
        raise RuntimeError("community names are not unique within the district")


def render(areas: Sequence[Area]) -> bytes:
    """The file format: a JSON array with one compact object per line, for readable diffs."""
    lines = [
        json.dumps(
            {"id": a.id, "name": a.name, "level": a.level.value, "parent_id": a.parent_id},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for a in areas
    ]
    return ("[\n" + ",\n".join(lines) + "\n]\n").encode()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="file to write")
    args = parser.parse_args(argv)
    output: Path = args.output
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(render(generate_areas()))
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
