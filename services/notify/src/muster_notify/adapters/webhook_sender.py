"""Webhook deliveries over HTTP: the destination checked against the allow-list (its URL,
then every address its host resolves to), the body signed, the answer judged."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import datetime

import httpx
import orjson

from muster_notify.application.channels import (
    Attempt,
    ChannelSender,
    Push,
    Sent,
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
        # Redirects are not followed: a redirect could lead past the allow-list.
        self._client = httpx.AsyncClient(
            timeout=timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    async def send(self, push: Push) -> Attempt:
        subscription = await self._subscriptions.get(push.target)
        if subscription is None:
            return Attempt(Sent.REFUSED, "subscription removed")
        try:
            await check_destination(self._allow, subscription.url)
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

    async def close(self) -> None:
        await self._client.aclose()
