"""Which volunteer a login speaks for, the codes of open invitations, and how often a
login may try a code: small collections read and written by `_id`."""

from __future__ import annotations

import contextlib
import math
import time
from datetime import datetime

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from muster_runtime.mongo import Database

# Raised and returned here, defined with the ports (importable from here too).
from muster_volunteer.application.ports import InvitationCode as InvitationCode
from muster_volunteer.application.ports import LoginTakenError as LoginTakenError
from muster_volunteer.application.ports import (
    TooManyClaimAttemptsError as TooManyClaimAttemptsError,
)
from muster_volunteer.domain.claim_codes import claim_code_digest

# How long a process answers "which volunteer is this login" from memory (every volunteer
# request asks). A link is made once and removed only when the volunteer is erased (or a
# registration or claim is rolled back): this process forgets it then; another replica may
# still act for the erased volunteer this long.
LINK_CACHE_SECONDS = 30.0
LINK_CACHE_SIZE = 100_000


class LoginLinks:
    """Login subject → volunteer id, one document per login (`_id` = the subject): the
    unique index on `_id` is what keeps one login to one volunteer under any concurrency.

    The volunteer's stream holds the binding (`volunteer.login_bound`); a link is written
    just before that event is appended and removed if the append fails.
    """

    def __init__(self, db: Database) -> None:
        self._links = db["accounts"]
        self._known: dict[str, tuple[float, str]] = {}
        self._unlinks = 0  # bumped by every unlink: a lookup that overlapped one is not kept

    async def link(self, subject: str, volunteer_id: str) -> None:
        """Link, or find the same link there already.

        Raises:
            LoginTakenError: the login is linked to another volunteer.
        """
        try:
            await self._links.insert_one({"_id": subject, "volunteer_id": volunteer_id})
        except DuplicateKeyError:
            holder = await self.volunteer_of(subject)
            if holder is None:  # unlinked in between: try once more
                await self.link(subject, volunteer_id)
            elif holder != volunteer_id:
                raise LoginTakenError(holder) from None

    async def volunteer_of(self, subject: str) -> str | None:
        """The volunteer this login speaks for, read from the store."""
        doc = await self._links.find_one({"_id": subject})
        return str(doc["volunteer_id"]) if doc else None

    async def cached_volunteer_of(self, subject: str) -> str | None:
        """As `volunteer_of`, kept in memory for `LINK_CACHE_SECONDS` once found."""
        now = time.monotonic()
        kept = self._known.get(subject)
        if kept is not None and now - kept[0] < LINK_CACHE_SECONDS:
            return kept[1]
        unlinks = self._unlinks
        volunteer_id = await self.volunteer_of(subject)
        if volunteer_id is not None and unlinks == self._unlinks:
            if len(self._known) >= LINK_CACHE_SIZE:
                self._known.clear()
            self._known[subject] = (now, volunteer_id)
        return volunteer_id

    async def unlink(self, subject: str, volunteer_id: str) -> None:
        """Remove the link if it points at `volunteer_id` (never another volunteer's)."""
        self._unlinks += 1
        try:
            await self._links.delete_one({"_id": subject, "volunteer_id": volunteer_id})
        finally:
            self._unlinks += 1
            self._known.pop(subject, None)


class InvitationCodes:
    """The codes of issued invitations, by keyed hash: a code finds its volunteer and
    invitation; whether it still works is the volunteer stream's business (superseded,
    claimed, expired), so a code's document outlives its use and answers precisely."""

    def __init__(self, db: Database, key: bytes) -> None:
        self._codes = db["invitation_codes"]
        self._key = key

    async def record(self, code: str, volunteer_id: str, invitation_id: str) -> None:
        await self._codes.insert_one(
            {
                "_id": claim_code_digest(self._key, code),
                "volunteer_id": volunteer_id,
                "invitation_id": invitation_id,
            }
        )

    async def find(self, code: str) -> InvitationCode | None:
        doc = await self._codes.find_one({"_id": claim_code_digest(self._key, code)})
        if doc is None:
            return None
        return InvitationCode(str(doc["volunteer_id"]), str(doc["invitation_id"]))

    async def forget(self, code: str) -> None:
        await self._codes.delete_one({"_id": claim_code_digest(self._key, code)})

    async def forget_volunteer(self, volunteer_id: str) -> None:
        """Erasure: every code of the volunteer (a query by a field other than `_id`, rare)."""
        await self._codes.delete_many({"volunteer_id": volunteer_id})


class ClaimAttempts:
    """At most `limit` claim attempts per login in each window of `window_seconds` (fixed
    windows from the epoch), counted in the store so that every replica shares the count:
    one document per login, `$inc`ed by `_id`."""

    def __init__(self, db: Database, limit: int, window_seconds: float) -> None:
        self._attempts = db["claim_attempts"]
        self._limit = limit
        self._window = window_seconds

    async def admit(self, subject: str, now: datetime) -> None:
        """Count one attempt.

        Raises:
            TooManyClaimAttemptsError: this login used its attempts for the window.
        """
        window = math.floor(now.timestamp() / self._window)
        # A new window starts the count again (a login's first attempt inserts its document).
        # (A duplicate key: the document is in this window already.)
        with contextlib.suppress(DuplicateKeyError):
            await self._attempts.update_one(
                {"_id": subject, "window": {"$ne": window}},
                {"$set": {"window": window, "count": 0}},
                upsert=True,
            )
        counted = await self._attempts.find_one_and_update(
            {"_id": subject, "window": window},
            {"$inc": {"count": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if counted is not None and int(counted["count"]) > self._limit:
            ends = (window + 1) * self._window
            raise TooManyClaimAttemptsError(max(1, math.ceil(ends - now.timestamp())))
