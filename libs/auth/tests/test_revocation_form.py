"""What `POST /admin/token-revocations` accepts: what its schema says, no more."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from muster_auth.revocations import RevokeToken


def test_until_is_a_date_time_with_its_zone() -> None:
    form = RevokeToken.model_validate({"token_id": "t", "until": "2026-12-08T08:00:00+08:00"})
    assert form.until is not None
    assert form.until.isoformat() == "2026-12-08T08:00:00+08:00"


@pytest.mark.parametrize("until", [0, 1765152000, 1.5, "2026-12-08T08:00:00"])
def test_until_as_a_unix_time_or_without_a_zone_is_refused(until: object) -> None:
    with pytest.raises(ValidationError):
        RevokeToken.model_validate({"token_id": "t", "until": until})
