"""Webhook deliveries over HTTP: the destination checked against the allow-list (its URL,
then every address its host resolves to), the body signed, the answer judged."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import datetime

import httpx
import orjson

from muster_notify.application.channels import (
    Attempt,
    ChannelSender,
    Push,
    Sent,
    Subscription,
    Subscriptions,
)
from muster_notify.application.delivery import utc_now
from muster_notify.domain.preferences import Channel
from muster_notify.domain.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AllowList,
    DestinationRefusedError,
    signature,
    webhook_body,
)

RECHECK_SECONDS = 5.0


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return sorted({str(info[4][0]) for info in infos})


async def check_destination(allow: AllowList, url: str) -> None:
    """Raise DestinationRefusedError unless `url` and every address of its host are allowed."""
    host, port = allow.check_url(url)
    try:
        addresses = await resolve(host, port)
    except (OSError, UnicodeError, ValueError) as exc:
        raise DestinationRefusedError(f"{host} does not resolve", "unresolvable") from exc
    for address in addresses:
        allow.check_address(address)


class WebhookSender(ChannelSender):
    channel = Channel.WEBHOOK

    def __init__(
        self,
        subscriptions: Subscriptions,
        allow: AllowList,
        *,
        timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._subscriptions = subscriptions
        self._allow = allow
        self._clock = clock
        # Read again every few seconds, not once per delivery: a removed subscription
        # or a host that now resolves elsewhere is noticed within that time.
        self._known: dict[str, tuple[float, Subscription | None]] = {}
        self._checked: dict[str, float] = {}
        # Redirects are not followed: a redirect could lead past the allow-list.
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def send(self, push: Push) -> Attempt:
        subscription = await self._subscription(push.target)
        if subscription is None:
            return Attempt(Sent.REFUSED, "subscription removed")
        try:
            await self._check(subscription.url)
        except DestinationRefusedError as refused:
            return Attempt(Sent.REFUSED, f"destination refused: {refused.reason}")
        body = orjson.dumps(webhook_body(push.delivery_id, push.message, push.area_id))
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(subscription.secret, timestamp, body),
            DELIVERY_HEADER: push.delivery_id,
        }
        try:
            answer = await self._client.post(subscription.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Attempt(Sent.FAILED, f"{type(exc).__name__}")
        if 200 <= answer.status_code < 300:
            return Attempt(Sent.ACCEPTED)
        return Attempt(Sent.FAILED, f"HTTP {answer.status_code}")

    async def _subscription(self, subscription_id: str) -> Subscription | None:
        now = time.monotonic()
        known = self._known.get(subscription_id)
        if known is None or known[0] < now:
            known = (now + RECHECK_SECONDS, await self._subscriptions.get(subscription_id))
            self._known[subscription_id] = known
        return known[1]

    async def _check(self, url: str) -> None:
        now = time.monotonic()
        if self._checked.get(url, 0.0) < now:
            await check_destination(self._allow, url)
            self._checked[url] = now + RECHECK_SECONDS

    async def close(self) -> None:
        await self._client.aclose()
