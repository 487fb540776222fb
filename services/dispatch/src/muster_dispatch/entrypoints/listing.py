"""What the list operations share: the area listed, instants in the query, and the cursor
of the next page (`<moment>|<id>`, the key its last item ends at)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from muster_auth.auth import Principal
from muster_contracts.areas import AreaTree
from muster_contracts.envelope import Role
from muster_dispatch.application.ports import PageKey
from muster_runtime.errors import ErrorAnswer, RuleViolationError

# An ISO 8601 instant with its offset (`2026-12-12T08:00:00+08:00`, `…Z`); not a number.
INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
AFTER_DESCRIPTION = "`next_after` of the previous page."


def refusals(bad_parameter: str) -> dict[int | str, dict[str, Any]]:
    """The refusals a list operation documents; `bad_parameter` says which parameters
    `validation_failed` names."""
    return {
        403: {"model": ErrorAnswer, "description": "`area_id` is outside your scope."},
        422: {
            "model": ErrorAnswer,
            "description": f"A bad parameter (`validation_failed`: {bad_parameter}), an "
            "unknown area (`unknown_area`) or a malformed `after` (`invalid_cursor`).",
        },
    }


def listed_area(principal: Principal, area_id: str | None, areas: AreaTree) -> str:
    """The area whose items (and its descendants') are listed: `area_id`, else the caller's
    own (an admin's: the whole tree). Outside the caller's scope: 403."""
    if area_id is None:
        area_id = areas.root.id if principal.role is Role.ADMIN else principal.area_id
    if area_id not in areas:
        raise RuleViolationError(
            f"unknown area {area_id}", code="unknown_area", field="area_id", rule="known_area"
        )
    principal.require_scope(area_id, areas)
    return area_id


def instant(text: str | None, name: str) -> datetime | None:
    """The query parameter `name` as an instant (None: not given)."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise RuleViolationError(
            f"{name} is not a valid instant: {text}", field=name, rule="instant"
        ) from None


def page_key(after: str | None) -> PageKey | None:
    """Where the page asked for starts: the previous page's `next_after`."""
    if after is None:
        return None
    moment, _, item_id = after.partition("|")
    try:
        at = datetime.fromisoformat(moment)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None or not item_id:
        raise RuleViolationError(
            "after must be a page's next_after", code="invalid_cursor", field="after", rule="cursor"
        )
    return at, item_id


def next_after(moments: list[tuple[datetime, str]], limit: int) -> str | None:
    """The cursor of the page after these (moment, id) keys; None when the page is not full."""
    if len(moments) < limit or not moments:
        return None
    at, item_id = moments[-1]
    return f"{at.isoformat()}|{item_id}"
