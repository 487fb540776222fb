"""My notification preferences; webhook subscriptions for an area; deliveries by channel
for a drive or an activity."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from muster_auth.auth import Principal, require_role
from muster_contracts.envelope import Role
from muster_http.idempotency import RetrySafeRoute
from muster_notify.domain.messages import Language, MessageKind
from muster_notify.domain.preferences import Channel, PreferenceError
from muster_notify.domain.webhooks import DestinationRefusedError
from muster_notify.entrypoints.dependencies import (
    Areas,
    Channels,
    FactsOf,
    Inbox,
    PreferencesOf,
    PushesOf,
)
from muster_notify.entrypoints.http import (
    ORGANISER_ERRORS,
    UNAUTHENTICATED,
    VOLUNTEER_ERRORS,
    Me,
    Reader_,
    Responses,
    _error,
)
from muster_runtime.errors import NotFoundError, RuleViolationError

router = APIRouter(tags=["notification channels"], route_class=RetrySafeRoute)

Organiser = Annotated[Principal, Depends(require_role(Role.ORGANISER, Role.ADMIN))]

PREFERENCE_ERRORS: Responses = {
    **VOLUNTEER_ERRORS,
    422: _error(
        "The request is not valid (`validation_failed`), or names an unknown time zone "
        "(`unknown_time_zone`, field `time_zone`)."
    ),
}
SUBSCRIPTION_ERRORS: Responses = {
    **UNAUTHENTICATED,
    403: _error(
        "Wrong role, or the area is outside the caller's (`reason`: wrong_role, outside_scope)."
    ),
    422: _error(
        "The request is not valid (`validation_failed`), the area is unknown "
        "(`unknown_area`), or the URL is not an allowed destination (`destination_refused`, "
        "field `url`; the message says why: scheme, host, own_port, internal_address, "
        "unresolvable)."
    ),
}


class PreferenceChange(BaseModel):
    """What to change; anything left out stays as it is."""

    language: Language | None = None
    time_zone: str | None = Field(default=None, max_length=64, examples=["Asia/Shanghai"])
    quiet_start: time | None = Field(default=None, description="Local HH:MM; default 22:00.")
    quiet_end: time | None = Field(
        default=None, description="Local HH:MM; default 07:00. Equal to the start: none."
    )
    channels: dict[MessageKind, dict[Channel, bool]] | None = Field(
        default=None,
        description="Per kind of message, channels on (true) or off (false). The inbox "
        "always holds every message.",
    )


class SubscriptionForm(BaseModel):
    area_id: str = Field(max_length=32)
    url: str = Field(max_length=2000)
    kinds: list[MessageKind] = Field(
        default_factory=list, max_length=len(MessageKind), description="None: every kind."
    )


@router.get("/me/notification-preferences", responses=VOLUNTEER_ERRORS)
async def my_preferences(me: Me, preferences: PreferencesOf) -> dict[str, Any]:
    """My language, quiet hours (in my time zone) and, per kind of message, which
    channels carry it. Email needs an address and consent given to the volunteer service."""
    return await preferences.view(me.volunteer_id)


@router.patch("/me/notification-preferences", responses=PREFERENCE_ERRORS)
async def change_my_preferences(
    me: Me, preferences: PreferencesOf, change: PreferenceChange, desk: Inbox
) -> dict[str, Any]:
    """Change some of my preferences; answers all of them. In quiet hours, a message
    that is not time-bound waits until they end; a reminder or the check-in window that
    falls in them is sent a minute before they begin."""
    try:
        return await preferences.change(
            me.volunteer_id,
            language=change.language,
            time_zone=change.time_zone,
            quiet_start=change.quiet_start,
            quiet_end=change.quiet_end,
            channels=change.channels,
        )
    except PreferenceError as refused:
        code = "unknown_time_zone" if refused.field == "time_zone" else "validation_failed"
        raise RuleViolationError(str(refused), code=code, field=refused.field) from refused


@router.post("/webhook-subscriptions", status_code=201, responses=SUBSCRIPTION_ERRORS)
async def register_webhook(
    response: Response,
    form: SubscriptionForm,
    principal: Organiser,
    channels: Channels,
    areas: Areas,
) -> dict[str, Any]:
    """Register an organisation's system to receive the messages about an area and below.
    The answer holds the signing secret, shown this once: each delivery carries
    `Muster-Timestamp` and `Muster-Signature: v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`."""
    if form.area_id not in areas:
        raise RuleViolationError(f"no area {form.area_id}", code="unknown_area", field="area_id")
    principal.require_scope(form.area_id, areas)
    try:
        await channels.check_destination(form.url)
    except DestinationRefusedError as refused:
        raise RuleViolationError(
            f"{refused} ({refused.reason})", code="destination_refused", field="url"
        ) from refused
    subscription = await channels.webhooks.register(
        form.area_id, form.url, frozenset(form.kinds), principal.subject
    )
    response.headers["Location"] = f"/webhook-subscriptions/{subscription.subscription_id}"
    return _subscription_view(subscription) | {"secret": subscription.secret}


@router.get("/webhook-subscriptions", responses=ORGANISER_ERRORS)
async def list_webhooks(principal: Organiser, channels: Channels, areas: Areas) -> dict[str, Any]:
    """The subscriptions for areas within mine (never their secrets)."""
    mine = [s for s in await channels.subscriptions.active() if principal.covers(s.area_id, areas)]
    return {"subscriptions": [_subscription_view(s) for s in mine]}


def _subscription_view(subscription: Any) -> dict[str, Any]:
    return {
        "subscription_id": subscription.subscription_id,
        "area_id": subscription.area_id,
        "url": subscription.url,
        "kinds": sorted(k.value for k in subscription.kinds),
        "created_by": subscription.created_by,
    }


@router.get("/drives/{drive_id}/deliveries", responses=ORGANISER_ERRORS)
async def drive_deliveries(
    drive_id: str, principal: Reader_, facts: FactsOf, pushes: PushesOf, areas: Areas
) -> dict[str, Any]:
    """Deliveries beyond the inbox of a drive's messages, per channel: planned, sent,
    failed tries, dead (given up), withdrawn (the volunteer was erased) and re-driven."""
    drive = await facts.drive(drive_id)
    if drive is None:
        raise NotFoundError(f"no drive {drive_id}", field="drive_id")
    principal.require_scope(str(drive["scope_area_id"]), areas)
    return {"drive_id": drive_id, "channels": await pushes.counts(f"drive:{drive_id}")}


@router.get("/activities/{activity_id}/deliveries", responses=ORGANISER_ERRORS)
async def activity_deliveries(
    activity_id: str, principal: Reader_, facts: FactsOf, pushes: PushesOf, areas: Areas
) -> dict[str, Any]:
    """Deliveries beyond the inbox of an activity's messages, per channel, as for a drive."""
    activity = await facts.activity(activity_id)
    if activity is None:
        raise NotFoundError(f"no activity {activity_id}", field="activity_id")
    principal.require_scope(activity.place_area_id or "", areas)
    return {"activity_id": activity_id, "channels": await pushes.counts(f"activity:{activity_id}")}
