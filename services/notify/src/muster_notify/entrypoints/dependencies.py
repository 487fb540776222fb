"""What notify's handlers depend on, as typed FastAPI dependencies: `bootstrap.build_app`
wires one `NotifyDesks` into the app (the channels' part from `channels_root`), and a
handler names what it needs (`facts: FactsOf`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from muster_auth.auth import RevocationList
from muster_contracts.areas import AreaTree
from muster_http.wiring import part, wired
from muster_notify.application.channels import Pushes, Subscriptions
from muster_notify.application.delivery import LiveFeed
from muster_notify.application.inbox import InboxDesk
from muster_notify.application.ports import Broadcasts, Facts, Tallies
from muster_notify.application.preferences import PreferenceDesk, WebhookDesk

# Refuses a webhook's URL that must not be called (DestinationRefusedError).
DestinationCheck = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ChannelDesks:
    preferences: PreferenceDesk
    webhooks: WebhookDesk
    subscriptions: Subscriptions
    pushes: Pushes
    check_destination: DestinationCheck


@dataclass(frozen=True)
class NotifyDesks:
    areas: AreaTree
    facts: Facts
    inbox: InboxDesk
    live: LiveFeed
    tallies: Tallies
    broadcasts: Broadcasts
    revocations: RevocationList
    stream_poll_seconds: float
    channels: ChannelDesks


Desks = Annotated[NotifyDesks, Depends(wired(NotifyDesks))]

Areas = Annotated[AreaTree, Depends(part(NotifyDesks, "areas"))]
FactsOf = Annotated[Facts, Depends(part(NotifyDesks, "facts"))]
Inbox = Annotated[InboxDesk, Depends(part(NotifyDesks, "inbox"))]
TalliesOf = Annotated[Tallies, Depends(part(NotifyDesks, "tallies"))]
Channels = Annotated[ChannelDesks, Depends(part(NotifyDesks, "channels"))]
PreferencesOf = Annotated[PreferenceDesk, Depends(part(NotifyDesks, "channels.preferences"))]
PushesOf = Annotated[Pushes, Depends(part(NotifyDesks, "channels.pushes"))]
