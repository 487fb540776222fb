"""The area hierarchy (city, district, street, community, grid, building) and its loader.

Area ids are hierarchical digit strings, so an id alone tells its level and its parent's id.
"""

from __future__ import annotations

import bisect
import functools
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

PACKAGED_AREAS_FILE = "areas-lubei.json"


class AreaLevel(StrEnum):
    """Levels of the hierarchy, declared from the top down."""

    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"

    @property
    def depth(self) -> int:
        """0 for a city, 5 for a building."""
        return _DEPTH[self]

    @property
    def id_length(self) -> int:
        """How many digits the id of an area at this level has."""
        return _ID_LENGTH[self]

    @property
    def parent(self) -> AreaLevel | None:
        """The level directly above, or None for a city."""
        return _LEVELS[self.depth - 1] if self.depth else None

    @property
    def child(self) -> AreaLevel | None:
        """The level directly below, or None for a building."""
        return _LEVELS[self.depth + 1] if self.depth + 1 < len(_LEVELS) else None


_LEVELS: tuple[AreaLevel, ...] = tuple(AreaLevel)
_DEPTH: dict[AreaLevel, int] = {level: depth for depth, level in enumerate(_LEVELS)}
# City "1302", district +2 digits, street +3, community +3, grid +2, building +2.
_ID_LENGTH: dict[AreaLevel, int] = dict(zip(_LEVELS, (4, 6, 9, 12, 14, 16), strict=True))
_LEVEL_BY_LENGTH: dict[int, AreaLevel] = {length: level for level, length in _ID_LENGTH.items()}


class InvalidAreaIdError(ValueError):
    """An area id that is not a digit string of one of the known lengths."""


class UnknownAreaError(KeyError):
    """An area id that the tree does not hold."""

    def __init__(self, area_id: str) -> None:
        super().__init__(area_id)
        self.area_id = area_id

    def __str__(self) -> str:
        # KeyError's own __str__ would only repr the bare id.
        return f"unknown area id {self.area_id!r}"


class AreaTreeError(ValueError):
    """A set of areas that does not form one consistent tree.

    `rule` names which rule, machine-readably: `malformed_area_id`, `duplicate_area_id`,
    `missing_parent`, `level_mismatch`, `parent_mismatch`, `one_root`.
    """

    def __init__(self, message: str, rule: str = "inconsistent_tree") -> None:
        super().__init__(message)
        self.rule = rule


def level_of(area_id: str) -> AreaLevel:
    """The level of an area, read from its id; raises InvalidAreaIdError for a malformed id."""
    # isascii() as well: str.isdigit() also accepts non-ASCII digits such as "١".
    level = _LEVEL_BY_LENGTH.get(len(area_id))
    if level is None or not (area_id.isascii() and area_id.isdigit()):
        raise InvalidAreaIdError(
            f"malformed area id {area_id!r}: expected a digit string of length "
            f"{', '.join(str(n) for n in _LEVEL_BY_LENGTH)}"
        )
    return level


def parent_id_of(area_id: str) -> str | None:
    """The id the parent of `area_id` must have (its prefix), or None for a city."""
    parent_level = level_of(area_id).parent
    return None if parent_level is None else area_id[: parent_level.id_length]


class Area(BaseModel):
    """One node of the hierarchy; its consistency with its id is checked by AreaTree."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    level: AreaLevel
    parent_id: str | None


_AREA_LIST = TypeAdapter(list[Area])


def _checked_level(area_id: str) -> AreaLevel:
    try:
        return level_of(area_id)
    except InvalidAreaIdError as exc:
        raise AreaTreeError(str(exc), "malformed_area_id") from exc


class AreaTree:
    """A validated tree of areas with a single root, which grows one area at a time.

    Areas are never removed or re-parented, so every lookup stays a dictionary read.
    """

    __slots__ = ("_by_id", "_by_level", "_children", "_lineage", "_root")

    def __init__(self, areas: Iterable[Area]) -> None:
        by_id: dict[str, Area] = {}
        for area in areas:
            if area.id in by_id:
                raise AreaTreeError(f"duplicate area id {area.id!r}", "duplicate_area_id")
            by_id[area.id] = area
        if not by_id:
            raise AreaTreeError("an area tree needs at least one area", "one_root")

        roots: list[Area] = []
        for area in by_id.values():
            level = _checked_level(area.id)
            if area.level is not level:
                raise AreaTreeError(
                    f"area {area.id!r} is at level {area.level} but its id is of a {level}",
                    "level_mismatch",
                )
            if area.parent_id is None:
                roots.append(area)
                continue
            expected_parent = parent_id_of(area.id)
            if area.parent_id != expected_parent:
                raise AreaTreeError(
                    f"area {area.id!r} names parent {area.parent_id!r}, "
                    f"but its id makes its parent {expected_parent!r}",
                    "parent_mismatch",
                )
            if area.parent_id not in by_id:
                raise AreaTreeError(
                    f"area {area.id!r} names missing parent {area.parent_id!r}", "missing_parent"
                )
        if len(roots) != 1:
            raise AreaTreeError(
                f"an area tree needs exactly one root, found {len(roots)}: "
                f"{sorted(root.id for root in roots)}",
                "one_root",
            )

        # Shorter ids are higher up, so sorting by (length, id) visits every parent
        # before its children and keeps siblings in id order.
        ordered = sorted(by_id.values(), key=lambda a: (len(a.id), a.id))
        lineage: dict[str, tuple[str, ...]] = {}
        children: dict[str, list[Area]] = {area_id: [] for area_id in by_id}
        by_level: dict[AreaLevel, list[Area]] = {level: [] for level in _LEVELS}
        for area in ordered:
            if area.parent_id is None:
                lineage[area.id] = (area.id,)
            else:
                lineage[area.id] = (*lineage[area.parent_id], area.id)
                children[area.parent_id].append(area)
            by_level[area.level].append(area)

        self._by_id = by_id
        self._root = roots[0]
        self._lineage = lineage
        self._children = {key: tuple(value) for key, value in children.items()}
        self._by_level = {key: tuple(value) for key, value in by_level.items()}

    def copy(self) -> AreaTree:
        """A tree of the same areas that grows independently of this one (O(n), no checks)."""
        clone = object.__new__(AreaTree)
        clone._by_id = dict(self._by_id)
        clone._root = self._root
        clone._lineage = dict(self._lineage)
        clone._children = dict(self._children)
        clone._by_level = dict(self._by_level)
        return clone

    def new_area(self, area_id: str, name: str) -> Area:
        """The area `add` would add, checked against the tree, which is left unchanged.

        Raises:
            AreaTreeError: a malformed id (`malformed_area_id`), an id the tree already
                holds (`duplicate_area_id`), a second root or a parent the tree does not
                hold (`missing_parent`).
        """
        level = _checked_level(area_id)
        parent_id = parent_id_of(area_id)
        if area_id in self._by_id:
            raise AreaTreeError(f"duplicate area id {area_id!r}", "duplicate_area_id")
        if parent_id is None:
            raise AreaTreeError(
                f"area {area_id!r} would be a second root beside {self._root.id!r}", "one_root"
            )
        if parent_id not in self._by_id:
            raise AreaTreeError(
                f"area {area_id!r} names missing parent {parent_id!r}", "missing_parent"
            )
        return Area(id=area_id, name=name, level=level, parent_id=parent_id)

    def add(self, area_id: str, name: str) -> Area:
        """Add one area below its existing parent; raises AreaTreeError as `new_area` does.

        Lookups stay O(1); the addition itself is O(siblings + areas at its level).
        """
        area = self.new_area(area_id, name)
        parent_id = area.parent_id
        assert parent_id is not None  # new_area refuses a second root
        self._by_id[area.id] = area
        self._lineage[area.id] = (*self._lineage[parent_id], area.id)
        self._children[area.id] = ()
        self._children[parent_id] = _inserted(self._children[parent_id], area)
        self._by_level[area.level] = _inserted(self._by_level[area.level], area)
        return area

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, area_id: object) -> bool:
        return area_id in self._by_id

    def __iter__(self) -> Iterator[Area]:
        """Every area, top down, siblings in id order."""
        for level in _LEVELS:
            yield from self._by_level[level]

    @property
    def root(self) -> Area:
        return self._root

    def get(self, area_id: str) -> Area:
        try:
            return self._by_id[area_id]
        except KeyError:
            raise UnknownAreaError(area_id) from None

    def lineage_ids(self, area_id: str) -> tuple[str, ...]:
        """Ids from the root down to `area_id` itself; precomputed, so O(1)."""
        try:
            return self._lineage[area_id]
        except KeyError:
            raise UnknownAreaError(area_id) from None

    def prefix_lineage_ids(self, area_id: str) -> tuple[str, ...]:
        """Ids from the root down to `area_id`, read from its id's prefixes.

        The same as `lineage_ids` for an area the tree holds; for a well-formed id below
        the root that it does not hold yet (an area added elsewhere whose event has not
        arrived here), the lineage the area will have, so figures can roll up before it.

        Raises:
            InvalidAreaIdError: a malformed id.
            UnknownAreaError: an id that does not lie below this tree's root.
        """
        known = self._lineage.get(area_id)
        if known is not None:
            return known
        levels = _LEVELS[self._root.level.depth : level_of(area_id).depth + 1]
        lineage = tuple(area_id[: level.id_length] for level in levels)
        if not lineage or lineage[0] != self._root.id:
            raise UnknownAreaError(area_id)
        return lineage

    def path(self, area_id: str) -> list[Area]:
        """Areas from the root down to `area_id` itself."""
        return [self._by_id[i] for i in self.lineage_ids(area_id)]

    def ancestors(self, area_id: str) -> list[Area]:
        """Areas from the root down to the parent of `area_id` (empty for the root)."""
        return self.path(area_id)[:-1]

    def children(self, area_id: str) -> list[Area]:
        """Direct children of `area_id`, in id order."""
        try:
            return list(self._children[area_id])
        except KeyError:
            raise UnknownAreaError(area_id) from None

    def is_within(self, area_id: str, scope_id: str) -> bool:
        """Whether `area_id` is `scope_id` or lies below it; both must be known areas."""
        lineage = self.lineage_ids(area_id)
        if scope_id not in self._by_id:
            # Fail loudly: a scope that silently matches nothing would hide a typo.
            raise UnknownAreaError(scope_id)
        return scope_id in lineage

    def descendants_count_by_level(self, area_id: str) -> dict[AreaLevel, int]:
        """How many areas lie below `area_id`, per level; every lower level is present."""
        area = self.get(area_id)
        counts = {level: 0 for level in _LEVELS[area.level.depth + 1 :]}
        stack = list(self._children[area_id])
        while stack:
            node = stack.pop()
            counts[node.level] += 1
            stack.extend(self._children[node.id])
        return counts

    def at_level(self, level: AreaLevel) -> list[Area]:
        """Every area at `level`, in id order."""
        return list(self._by_level[level])


def _inserted(areas: tuple[Area, ...], area: Area) -> tuple[Area, ...]:
    """`areas` (in id order) with `area` in its place."""
    at = bisect.bisect_left(areas, area.id, key=lambda a: a.id)
    return (*areas[:at], area, *areas[at:])


def parse_area_tree(data: bytes | str) -> AreaTree:
    """Build a tree from the JSON array format of the packaged data file."""
    return AreaTree(_AREA_LIST.validate_json(data))


def load_area_tree(path: Path | None = None) -> AreaTree:
    """Load an area tree from `path`, or the packaged 路北区 data (parsed once, then copied:
    each caller's tree grows on its own)."""
    if path is None:
        return _load_packaged_tree().copy()
    return parse_area_tree(path.read_bytes())


@functools.lru_cache(maxsize=1)
def _load_packaged_tree() -> AreaTree:
    resource = resources.files("muster_contracts") / "data" / PACKAGED_AREAS_FILE
    return parse_area_tree(resource.read_bytes())
