"""`Idempotency-Key` on every POST: a retry with the same key and body gets the first answer.

`RetrySafeRoute` gives every POST of a router this behaviour (`create_app` refuses a POST
route without it). A key is claimed for (caller's subject, route, key) before the command
runs and completed with the answer after it; a retry finding the answer gets it back with
`Idempotent-Replayed: true`, one with another body gets 422 `idempotency_key_reused`, one
arriving while the first still runs gets 409 `request_in_progress`. Only 2xx answers are
kept: after an error the key is released and a retry runs the command again. Recording the
outcome (completing or releasing the key) is bounded by `OUTCOME_WRITE` and never changes
the answer: when the store cannot take it, the command's own answer still goes back and
the key stays pending. A claim left pending longer than `IN_FLIGHT` (the process died, or
its outcome could not be written) is taken over; commands that create
something derive its id from the key (`stable_id`), so running one again makes no second
drive, activity or volunteer. Keys are kept for the service's retention (`RETENTION` by
default): an older key counts as new. MongoDB deletes expired keys itself (a TTL index);
FerretDB has none, so each service also deletes them every hour.

A key is stored only as a keyed hash (HMAC-SHA-256 with the deployment's `MUSTER_PII_PEPPER`)
of caller, route and key: clients put phone numbers and names in their keys, and a dump of
the store must not show them, nor let them be guessed without the pepper.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import orjson
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from muster_runtime.errors import (
    AuthenticationError,
    ConflictError,
    ErrorAnswer,
    RuleViolationError,
)
from muster_runtime.ports.idempotency_records import (
    IdempotencyRecords,
    KeyRecord,
)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
RETENTION = timedelta(hours=24)
# A claim younger than this is a request still running; an older one was abandoned.
IN_FLIGHT = timedelta(seconds=30)

log = logging.getLogger(__name__)
# Headers of a kept answer that a replay repeats (the body's type and where it points).
KEPT_HEADERS = ("content-type", "location", "etag")


@dataclass(frozen=True)
class Claim:
    """A claimed key: `answer` is set when an earlier request with it already completed."""

    record: KeyRecord
    answer: KeyRecord | None = None

    def stable_id(self, kind: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"muster:{kind}:{self.record.record_id}")


class IdempotencyKeys:
    """The rules of claiming, completing and releasing keys, over any `IdempotencyRecords`."""

    def __init__(
        self,
        records: IdempotencyRecords,
        pepper: bytes,
        clock: Callable[[], datetime] | None = None,
        retention: timedelta = RETENTION,
    ) -> None:
        self.records = records
        self._pepper = pepper
        self._retention = retention
        self._clock = clock or (lambda: datetime.now(UTC))

    def record_id(self, subject: str, route: str, key: str) -> str:
        """What a key is stored under: a keyed hash, the same for the same caller, route and
        key (so `Claim.stable_id` is too), revealing none of them."""
        claimed = "\x1f".join((subject, route, key)).encode()
        return hmac.new(self._pepper, claimed, hashlib.sha256).hexdigest()

    async def claim(self, subject: str, route: str, key: str, fingerprint: str) -> Claim:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise RuleViolationError(
                f"{HEADER} must be 1..{MAX_KEY_LENGTH} characters",
                code="idempotency_key_invalid",
                field=HEADER,
                rule="length",
            )
        now = self._clock()
        fresh = KeyRecord(
            record_id=self.record_id(subject, route, key),
            fingerprint=fingerprint,
            claim=uuid4().hex,
            claimed_at=now,
            expires_at=now + self._retention,
        )
        for _ in range(3):  # each turn loses only to another claim of the same key
            if await self.records.insert(fresh):
                return Claim(fresh)
            held = await self.records.get(fresh.record_id)
            if held is None:
                continue
            if held.expires_at > now:
                if held.fingerprint != fingerprint:
                    raise RuleViolationError(
                        f"this {HEADER} was used with another request (a different body or "
                        "path); use a new key for a new request",
                        code="idempotency_key_reused",
                        field=HEADER,
                        rule="same_request",
                    )
                if held.complete:
                    return Claim(held, answer=held)
                if now - held.claimed_at < IN_FLIGHT:
                    raise _in_progress()
            if await self.records.replace(held.claim, fresh):
                return Claim(fresh)
        raise _in_progress()

    async def complete(
        self, claim: Claim, status: int, body: bytes, headers: dict[str, str]
    ) -> None:
        """Keep the answer for retries; best effort (see the module docstring)."""
        done = replace(claim.record, status=status, body=body, headers=headers)
        await self._record_outcome(self.records.replace(claim.record.claim, done), "complete")

    async def release(self, claim: Claim) -> None:
        """Free the key for a retry; best effort (see the module docstring)."""
        await self._record_outcome(
            self.records.delete(claim.record.record_id, claim.record.claim), "release"
        )

    @staticmethod
    async def _record_outcome(write: Awaitable[object], what: str) -> None:
        try:
            await write
        except Exception as exc:  # the answer is decided; the key stays pending until IN_FLIGHT
            log.warning(
                "idempotency key outcome not recorded", extra={"what": what, "error": repr(exc)}
            )

    async def forget_expired(self) -> None:
        await self.records.delete_expired(self._clock())


def _in_progress() -> ConflictError:
    return ConflictError(
        f"a request with this {HEADER} is still being answered; retry in a moment",
        code="request_in_progress",
        field=HEADER,
        retry_after_seconds=1,
    )


def request_fingerprint(path: str, query: str, body: bytes) -> str:
    """The request a key stands for: its path and query, and its JSON body in a canonical
    form (key order and spacing do not matter), or its bytes if it is not JSON."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    return hashlib.sha256(f"{path}?{query}\n".encode() + canonical).hexdigest()


def stable_id(request: Request, kind: str) -> UUID:
    """An id for what this request creates: derived from its `Idempotency-Key` (the same on
    every retry, so running the command again finds what the first run made), else new."""
    claim: Claim | None = getattr(request.state, "idempotency", None)
    return claim.stable_id(kind) if claim is not None else uuid4()


class StableIds:
    """`stable_id` as a FastAPI dependency (`NewIds`): a handler asks `ids.of("drive")`."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def of(self, kind: str) -> UUID:
        return stable_id(self._request, kind)


NewIds = Annotated[StableIds, Depends(StableIds)]


# --- What a replay answers when the first answer must not be kept whole ----------------

Endpoint = TypeVar("Endpoint", bound=Callable[..., Coroutine[Any, Any, Any]])


@dataclass(frozen=True)
class KeptAnswer:
    """`keep` reduces a JSON answer to what is stored with the key; `restore` builds the
    answer again from it on a replay (e.g. reads a volunteer again: no personal data is
    kept with keys, so an erasure leaves none behind)."""

    keep: Callable[[Any], Any]
    restore: Callable[[Request, Any], Awaitable[Any]]


def replays_by(
    keep: Callable[[Any], Any], restore: Callable[[Request, Any], Awaitable[Any]]
) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint whose answers are kept as `keep(body)` and replayed as `restore`."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.__dict__["kept_answer"] = KeptAnswer(keep, restore)
        return endpoint

    return mark


def never_replayed(why: str) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint whose answer must not be kept at all (a secret shown once): the key
    still refuses a concurrent duplicate, but a retry after an answer runs the command
    again. `why` is added to the header's description in the OpenAPI."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.__dict__["never_replayed"] = why
        return endpoint

    return mark


# --- The route ---------------------------------------------------------------------------

KEY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Optional. A unique key per intended request (a UUID): a retry with the same key and "
        "body gets the first answer again, with `Idempotent-Replayed: true`, and does "
        "nothing twice. The same key with another body or path gets 422 "
        "`idempotency_key_reused`; while the first request is still running, 409 "
        f"`request_in_progress`. Keys are kept {RETENTION.total_seconds() / 3600:.0f} h by "
        "default, per caller and route."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}
REPLAYED_HEADER_DOC = {
    REPLAYED: {
        "description": "`true` when this is the first answer to the same key, replayed.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}
KEY_ERRORS = {
    409: f"`request_in_progress`: a request with this `{HEADER}` is still being answered.",
    422: f"`idempotency_key_reused`: this `{HEADER}` came with another request; "
    "`idempotency_key_invalid`: the key is empty or too long.",
}
ERROR_ANSWERS: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorAnswer,
        "description": "A conflict: `request_in_progress` (the same `Idempotency-Key` is "
        "still being answered), a stale version or the state of the resource.",
    },
    422: {
        "model": ErrorAnswer,
        "description": "The request is not valid (`validation_failed` with `fields`), breaks "
        "a rule (`field` and `rule` named), or reuses an `Idempotency-Key` for another "
        "request (`idempotency_key_reused`, `idempotency_key_invalid`).",
    },
}


class RetrySafeRoute(APIRoute):
    """A route whose POST takes an optional `Idempotency-Key` (see the module docstring).

    Declare routers with `APIRouter(route_class=RetrySafeRoute)`; other methods pass through.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if "POST" in {m.upper() for m in kwargs.get("methods") or ()}:
            extra = dict(kwargs.get("openapi_extra") or {})
            parameter = KEY_PARAMETER
            if why := getattr(endpoint, "never_replayed", None):
                parameter = parameter | {
                    "description": (
                        "Optional. A unique key per intended request: while it is being "
                        "answered, a request with the same key gets 409 "
                        f"`request_in_progress`. This answer is never replayed: {why}."
                    )
                }
            extra["parameters"] = [*extra.get("parameters", []), parameter]
            kwargs["openapi_extra"] = extra
            answers = {**ERROR_ANSWERS, **(kwargs.get("responses") or {})}
            for status, note in KEY_ERRORS.items():  # the route's own errors, and the key's
                if answers[status] is not ERROR_ANSWERS[status]:
                    described = answers[status].get("description", "")
                    answers[status] = answers[status] | {"description": f"{described} {note}"}
            successes = {kwargs.get("status_code") or 200}
            successes |= {s for s in answers if str(s).startswith("2")}
            for status in successes:
                answers[status] = {**answers.get(status, {}), "headers": REPLAYED_HEADER_DOC}
            kwargs["responses"] = answers
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if "POST" not in (self.methods or ()):
            return handler
        route = f"POST {self.path}"
        kept: KeptAnswer | None = getattr(self.endpoint, "kept_answer", None)
        replayed = getattr(self.endpoint, "never_replayed", None) is None

        async def retry_safe(request: Request) -> Response:
            key = request.headers.get(HEADER)
            subject = await _caller(request) if key is not None else None
            if key is None or subject is None:  # no token: the route's own check answers 401
                return await handler(request)
            keys: IdempotencyKeys = request.app.state.idempotency
            fingerprint = request_fingerprint(
                request.url.path, request.url.query, await request.body()
            )
            claim = await keys.claim(subject, route, key, fingerprint)
            if claim.answer is not None:
                return await _replay(request, claim.answer, kept)
            request.state.idempotency = claim
            try:
                response = await handler(request)
            except BaseException:
                await keys.release(claim)
                raise
            # A streamed answer has no body to keep: it is not replayed, the command runs again.
            if replayed and 200 <= response.status_code < 300 and hasattr(response, "body"):
                body = bytes(response.body)
                if kept is not None:
                    body = orjson.dumps(kept.keep(orjson.loads(body)))
                headers = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
                await keys.complete(claim, response.status_code, body, headers)
            else:
                await keys.release(claim)
            return response

        return retry_safe


async def _caller(request: Request) -> str | None:
    """The verified subject of the request's bearer token, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    try:
        principal = await request.app.state.tokens.verify(token.strip())
    except AuthenticationError:
        return None
    subject: str = principal.subject
    return subject


async def _replay(request: Request, answer: KeyRecord, kept: KeptAnswer | None) -> Response:
    body = answer.body
    if kept is not None:
        body = orjson.dumps(await kept.restore(request, orjson.loads(body)))
    headers = {k: v for k, v in answer.headers.items() if k != "content-type"}
    return Response(
        content=body,
        status_code=answer.status or 200,
        media_type=answer.headers.get("content-type", "application/json"),
        headers=headers | {REPLAYED: "true"},
    )
