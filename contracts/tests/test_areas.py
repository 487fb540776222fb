"""Tests of the area hierarchy API, the packaged 路北区 data and its generator."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from typing import TYPE_CHECKING

import pytest

from muster_contracts import area_data
from muster_contracts.areas import (
    Area,
    AreaLevel,
    AreaTree,
    AreaTreeError,
    InvalidAreaIdError,
    UnknownAreaError,
    level_of,
    load_area_tree,
    parent_id_of,
)

if TYPE_CHECKING:
    from pathlib import Path

DISTRICT = "130203"
STREET = "130203001"


def packaged_bytes() -> bytes:
    return (resources.files("muster_contracts") / "data" / "areas-lubei.json").read_bytes()


def first_building(tree: AreaTree) -> Area:
    return tree.at_level(AreaLevel.BUILDING)[0]


def small_tree_areas() -> list[Area]:
    return [
        Area(id="1302", name="唐山市", level=AreaLevel.CITY, parent_id=None),
        Area(id="130203", name="路北区", level=AreaLevel.DISTRICT, parent_id="1302"),
        Area(id="130203001", name="乔屯街道", level=AreaLevel.STREET, parent_id="130203"),
        Area(id="130203002", name="文化路街道", level=AreaLevel.STREET, parent_id="130203"),
    ]


def test_level_order_and_depth() -> None:
    assert list(AreaLevel) == [
        AreaLevel.CITY,
        AreaLevel.DISTRICT,
        AreaLevel.STREET,
        AreaLevel.COMMUNITY,
        AreaLevel.GRID,
        AreaLevel.BUILDING,
    ]
    assert [level.depth for level in AreaLevel] == [0, 1, 2, 3, 4, 5]
    assert [level.id_length for level in AreaLevel] == [4, 6, 9, 12, 14, 16]
    assert AreaLevel.CITY.parent is None
    assert AreaLevel.STREET.parent is AreaLevel.DISTRICT
    assert AreaLevel.BUILDING.child is None


def test_packaged_file_loads_once_into_a_tree_per_caller() -> None:
    tree = load_area_tree()
    assert tree is not load_area_tree()
    assert tree.root.id == "1302"
    assert tree.root.name == "唐山市"
    assert tree.get(DISTRICT).name == "路北区"


def test_counts_per_level() -> None:
    tree = load_area_tree()
    counts = {level: len(tree.at_level(level)) for level in AreaLevel}
    assert counts[AreaLevel.CITY] == 1
    assert counts[AreaLevel.DISTRICT] == 1
    assert counts[AreaLevel.STREET] == 11
    assert counts[AreaLevel.COMMUNITY] == 175
    assert counts[AreaLevel.GRID] == 2257
    assert counts[AreaLevel.BUILDING] >= 6000
    assert len(tree) == sum(counts.values())
    below_district = tree.descendants_count_by_level(DISTRICT)
    assert below_district == {
        level: counts[level]
        for level in (AreaLevel.STREET, AreaLevel.COMMUNITY, AreaLevel.GRID, AreaLevel.BUILDING)
    }


def test_names_from_the_report() -> None:
    tree = load_area_tree()
    streets = [area.name for area in tree.children(DISTRICT)]
    assert streets[:3] == ["乔屯街道", "文化路街道", "钓鱼台街道"]
    assert "翔云道街道" in streets
    communities = [area.name for area in tree.at_level(AreaLevel.COMMUNITY)]
    assert "裕华嘉苑第二社区" in communities
    assert len(set(communities)) == len(communities)
    assert all(name.endswith("社区") for name in communities)


def test_every_grid_has_one_to_five_buildings() -> None:
    tree = load_area_tree()
    sizes = {len(tree.children(grid.id)) for grid in tree.at_level(AreaLevel.GRID)}
    assert min(sizes) >= 1
    assert max(sizes) <= 5


def test_lineage_ids_of_a_building_are_root_first() -> None:
    tree = load_area_tree()
    building = first_building(tree)
    lineage = tree.lineage_ids(building.id)
    assert len(lineage) == 6
    assert lineage[0] == "1302"
    assert lineage[-1] == building.id
    assert [level_of(area_id) for area_id in lineage] == list(AreaLevel)
    assert [area.id for area in tree.path(building.id)] == list(lineage)
    assert [area.id for area in tree.ancestors(building.id)] == list(lineage[:-1])
    assert tree.ancestors("1302") == []


def test_children_are_in_id_order_and_point_back() -> None:
    tree = load_area_tree()
    children = tree.children(STREET)
    assert [child.id for child in children] == sorted(child.id for child in children)
    assert all(child.parent_id == STREET for child in children)
    assert tree.children(first_building(tree).id) == []


def test_is_within() -> None:
    tree = load_area_tree()
    building = first_building(tree)
    street_id, community_id = building.id[:9], building.id[:12]
    assert tree.is_within(building.id, building.id)
    assert tree.is_within(building.id, community_id)
    assert tree.is_within(building.id, street_id)
    assert tree.is_within(building.id, "1302")
    assert tree.is_within(community_id, community_id)
    assert not tree.is_within(community_id, building.id)
    other_street = tree.children(DISTRICT)[-1].id
    assert other_street != street_id
    assert not tree.is_within(building.id, other_street)
    with pytest.raises(UnknownAreaError):
        tree.is_within(building.id, "130203999")


def test_unknown_area_raises() -> None:
    tree = load_area_tree()
    assert "130203999" not in tree
    assert STREET in tree
    with pytest.raises(UnknownAreaError, match="unknown area id '130203999'"):
        tree.get("130203999")
    for method in (tree.lineage_ids, tree.path, tree.children, tree.ancestors):
        with pytest.raises(KeyError):
            method("130203999")


@pytest.mark.parametrize(
    "area_id", ["", "130", "13020", "1302030011", "13020a", "１３０２", "١٣٠٢"]
)
def test_malformed_id_rejected(area_id: str) -> None:
    with pytest.raises(InvalidAreaIdError):
        level_of(area_id)


def test_level_and_parent_from_id() -> None:
    assert level_of("1302") is AreaLevel.CITY
    assert level_of("1302030010010101") is AreaLevel.BUILDING
    assert parent_id_of("1302") is None
    assert parent_id_of("130203001001") == "130203001"
    assert parent_id_of("1302030010010101") == "13020300100101"


def test_tree_rejects_parent_other_than_id_prefix() -> None:
    areas = [
        *small_tree_areas(),
        Area(id="130203001001", name="某社区", level=AreaLevel.COMMUNITY, parent_id="130203002"),
    ]
    with pytest.raises(AreaTreeError, match="parent"):
        AreaTree(areas)


def test_tree_rejects_missing_parent() -> None:
    areas = [
        *small_tree_areas(),
        Area(id="130203003001", name="某社区", level=AreaLevel.COMMUNITY, parent_id="130203003"),
    ]
    with pytest.raises(AreaTreeError, match="missing parent"):
        AreaTree(areas)


def test_tree_rejects_level_not_matching_id() -> None:
    areas = [
        *small_tree_areas(),
        Area(id="130203001001", name="某社区", level=AreaLevel.GRID, parent_id="130203001"),
    ]
    with pytest.raises(AreaTreeError, match="level"):
        AreaTree(areas)


def test_tree_rejects_duplicates_and_second_root() -> None:
    areas = small_tree_areas()
    with pytest.raises(AreaTreeError, match="duplicate"):
        AreaTree([*areas, areas[-1]])
    second_root = Area(id="1303", name="秦皇岛市", level=AreaLevel.CITY, parent_id=None)
    with pytest.raises(AreaTreeError, match="exactly one root"):
        AreaTree([*areas, second_root])
    with pytest.raises(AreaTreeError):
        AreaTree([])


def test_load_from_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "areas.json"
    path.write_bytes(area_data.render(small_tree_areas()))
    tree = load_area_tree(path)
    assert len(tree) == 4
    assert [area.name for area in tree.children("130203")] == ["乔屯街道", "文化路街道"]
    assert tree.descendants_count_by_level("130203") == {
        AreaLevel.STREET: 2,
        AreaLevel.COMMUNITY: 0,
        AreaLevel.GRID: 0,
        AreaLevel.BUILDING: 0,
    }


def test_generator_is_deterministic_and_committed_file_is_current(tmp_path: Path) -> None:
    output = tmp_path / "areas.json"
    area_data.main(["--output", str(output)])
    assert output.read_bytes() == area_data.render(area_data.generate_areas())
    assert output.read_bytes() == packaged_bytes(), (
        "data/areas-lubei.json is stale: run `python -m muster_contracts.area_data`"
    )


def test_generator_cli_ignores_hash_seed(tmp_path: Path) -> None:
    # A fresh process with another hash seed catches any reliance on set/dict-of-str order.
    output = tmp_path / "areas.json"
    subprocess.run(
        [sys.executable, "-m", "muster_contracts.area_data", "--output", str(output)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "4242"},
        timeout=60,
    )
    assert output.read_bytes() == packaged_bytes()


def test_an_added_area_is_found_like_a_loaded_one() -> None:
    tree = AreaTree(small_tree_areas())
    community = tree.add("130203001007", "新建社区")
    assert community == Area(
        id="130203001007", name="新建社区", level=AreaLevel.COMMUNITY, parent_id="130203001"
    )
    grid = tree.add("13020300100701", "第01网格")
    earlier = tree.add("130203001003", "更早的社区")
    assert tree.get(grid.id) is grid
    assert grid.id in tree
    assert len(tree) == 7
    assert tree.lineage_ids(grid.id) == ("1302", "130203", "130203001", "130203001007", grid.id)
    assert [a.id for a in tree.children("130203001")] == [earlier.id, community.id]
    assert tree.children(grid.id) == []
    assert tree.at_level(AreaLevel.COMMUNITY) == [earlier, community]
    assert tree.is_within(grid.id, "130203001")
    assert not tree.is_within(grid.id, "130203002")
    assert tree.descendants_count_by_level("130203001")[AreaLevel.GRID] == 1
    assert [a.id for a in tree][-1] == grid.id


@pytest.mark.parametrize(
    ("area_id", "rule"),
    [
        ("130203001", "duplicate_area_id"),  # already held
        ("130203003001", "missing_parent"),  # street 130203003 does not exist
        ("1303", "one_root"),  # a second city
        ("1302030010", "malformed_area_id"),
        ("13020300100a", "malformed_area_id"),
    ],
)
def test_an_addition_that_breaks_the_tree_is_refused(area_id: str, rule: str) -> None:
    tree = AreaTree(small_tree_areas())
    with pytest.raises(AreaTreeError) as refused:
        tree.new_area(area_id, "名字")
    assert refused.value.rule == rule
    with pytest.raises(AreaTreeError):
        tree.add(area_id, "名字")
    assert len(tree) == 4
    assert [a.id for a in tree.children(DISTRICT)] == ["130203001", "130203002"]


def test_new_area_leaves_the_tree_unchanged() -> None:
    tree = AreaTree(small_tree_areas())
    area = tree.new_area("130203002001", "社区")
    assert area.parent_id == "130203002"
    assert area.id not in tree


def test_packaged_trees_grow_independently() -> None:
    mine, theirs = load_area_tree(), load_area_tree()
    building = first_building(mine)
    new_id = building.parent_id + "99" if building.parent_id else ""
    mine.add(new_id, "新楼")
    assert new_id in mine
    assert new_id not in theirs
    assert new_id not in load_area_tree()
    assert len(mine) == len(theirs) + 1


def test_prefix_lineage_of_an_area_not_yet_known() -> None:
    tree = AreaTree(small_tree_areas())
    unknown_building = "1302030020050301"
    assert unknown_building not in tree
    assert tree.prefix_lineage_ids(unknown_building) == (
        "1302",
        "130203",
        "130203002",
        "130203002005",
        "13020300200503",
        unknown_building,
    )
    assert tree.prefix_lineage_ids("130203001") == tree.lineage_ids("130203001")
    with pytest.raises(UnknownAreaError):
        tree.prefix_lineage_ids("1303010010010101")  # below another city
    with pytest.raises(InvalidAreaIdError):
        tree.prefix_lineage_ids("13020300200")


def test_prefix_lineage_starts_at_a_root_below_the_city() -> None:
    district_tree = AreaTree(
        [
            Area(id="130203", name="路北区", level=AreaLevel.DISTRICT, parent_id=None),
            Area(id="130203001", name="乔屯街道", level=AreaLevel.STREET, parent_id="130203"),
        ]
    )
    assert district_tree.prefix_lineage_ids("130203009001") == (
        "130203",
        "130203009",
        "130203009001",
    )
    with pytest.raises(UnknownAreaError):
        district_tree.prefix_lineage_ids("1302")
