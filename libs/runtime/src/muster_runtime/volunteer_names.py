"""Display names from the volunteer service, asked on behalf of the caller.

Reporting and notify hold no personal data: to show a name they forward the caller's
own bearer token, so the volunteer service applies the caller's rights (names outside
them come back `unknown`, erased volunteers `erased`, never their data), and no name is
stored anywhere but there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

MAX_IDS_PER_REQUEST = 200


class NamesUnavailableError(RuntimeError):
    """The volunteer service could not be asked (down, or it refused the caller)."""


@dataclass(frozen=True)
class DisplayName:
    volunteer_id: str
    status: Literal["active", "erased", "unknown"]
    name: str | None


class VolunteerNames:
    def __init__(self, base_url: str, timeout_seconds: float = 3.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout_seconds

    async def names(self, volunteer_ids: list[str], authorization: str) -> dict[str, DisplayName]:
        """Names by volunteer id, asked with the caller's `Authorization` header."""
        wanted = list(dict.fromkeys(volunteer_ids))
        found: dict[str, DisplayName] = {}
        if not wanted:
            return found
        async with httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout) as client:
            for start in range(0, len(wanted), MAX_IDS_PER_REQUEST):
                chunk = wanted[start : start + MAX_IDS_PER_REQUEST]
                try:
                    response = await client.get(
                        "/volunteers/names",
                        params={"ids": ",".join(chunk)},
                        headers={"Authorization": authorization},
                    )
                except httpx.HTTPError as exc:
                    raise NamesUnavailableError(f"volunteer service unreachable: {exc}") from exc
                if response.status_code != 200:
                    raise NamesUnavailableError(
                        f"volunteer service answered {response.status_code}: {response.text[:200]}"
                    )
                for row in response.json()["volunteers"]:
                    found[row["volunteer_id"]] = DisplayName(
                        row["volunteer_id"], row["status"], row.get("name")
                    )
        return found
