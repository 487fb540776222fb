"""The channels' part of notify's composition root: settings, adapters, couriers and
their HTTP state (kept apart from bootstrap.py so the inbox and the channels grow apart)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import Field

from muster_contracts.areas import AreaTree
from muster_notify.adapters.channels_store import (
    MongoPreferenceBook,
    MongoPushes,
    MongoSubscriptions,
)
from muster_notify.adapters.email_requests import EmailRequester
from muster_notify.adapters.webhook_sender import WebhookSender, check_destination
from muster_notify.application.channels import (
    ChannelDelivery,
    Courier,
    EmailOutcomes,
    Push,
    ReminderPlanner,
    still_worth_sending,
)
from muster_notify.application.delivery import LiveFeed
from muster_notify.application.ports import Facts, Inboxes, Tallies
from muster_notify.application.preferences import PreferenceDesk, WebhookDesk
from muster_notify.domain.preferences import Channel
from muster_notify.domain.webhooks import AllowList
from muster_notify.entrypoints.dependencies import ChannelDesks
from muster_runtime.eventstore import EventStore
from muster_runtime.mongo import Database
from muster_runtime.service import ServiceRuntime
from muster_runtime.settings import ServiceSettings

# The services' HTTP ports and the usual ports of the stack's parts (Kafka, its
# controller, the store, Prometheus, Grafana, the trace collector).
STACK_PORTS = (8001, 8002, 8003, 8004, 9092, 9093, 27017, 9090, 3000, 4317, 4318)


class ChannelSettings(ServiceSettings):
    email_enabled: bool = Field(
        default=False,
        description="Plan email deliveries: requests to the volunteer service, which holds "
        "the addresses and sends through its SMTP server (MUSTER_SMTP_HOST there).",
    )
    webhook_allow_internal: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private and link-local addresses "
        "(development only; refused outside development mode).",
    )
    webhook_refused_ports: tuple[int, ...] = Field(
        default=STACK_PORTS,
        description="Ports a webhook may never reach, besides those of Kafka and the store "
        "named in the settings (JSON list).",
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Tries of a webhook delivery before it is dead-lettered."
    )
    webhook_first_retry_seconds: float = Field(
        default=5.0, gt=0, description="Wait before the first retry; it doubles, up to an hour."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a receiver has to answer a delivery."
    )
    push_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A delivery being tried is another replica's again after this long "
        "(a process that stopped mid-delivery).",
    )


def own_ports(settings: ChannelSettings) -> frozenset[int]:
    ports = set(settings.webhook_refused_ports) | {settings.http_port}
    for address in settings.kafka_bootstrap.split(","):
        if ":" in address:
            ports.add(int(address.rsplit(":", 1)[1]))
    mongo = urlsplit(settings.mongo_url.split(",")[0])
    ports.add(mongo.port or 27017)
    return frozenset(ports)


class Channels:
    def __init__(
        self,
        db: Database,
        settings: ChannelSettings,
        facts: Facts,
        areas: AreaTree,
        lead_times: tuple[timedelta, ...],
        store: EventStore,
    ) -> None:
        if settings.webhook_allow_internal and not settings.dev_mode:
            raise ValueError("MUSTER_WEBHOOK_ALLOW_INTERNAL needs MUSTER_DEV_MODE")
        self.settings = settings
        self.facts = facts
        self.areas = areas
        self.lead_times = lead_times
        self.preferences = MongoPreferenceBook(db)
        self.subscriptions = MongoSubscriptions(db)
        self.pushes = MongoPushes(db)
        self.allow = AllowList(own_ports(settings), allow_internal=settings.webhook_allow_internal)
        self.webhook_sender = WebhookSender(
            self.subscriptions, self.allow, timeout_seconds=settings.webhook_timeout_seconds
        )
        self.store = store
        self.outcomes = EmailOutcomes(self.pushes)
        self._delivery: ChannelDelivery | None = None

    def delivery(self, inboxes: Inboxes, tallies: Tallies, live: LiveFeed) -> ChannelDelivery:
        self._delivery = ChannelDelivery(
            inboxes,
            tallies,
            live,
            facts=self.facts,
            preferences=self.preferences,
            subscriptions=self.subscriptions,
            pushes=self.pushes,
            areas=self.areas,
            enabled=frozenset(
                {Channel.WEBHOOK, *([Channel.EMAIL] if self.settings.email_enabled else [])}
            ),
        )
        email = EmailRequester(self.store, self.preferences, inboxes)
        self._delivery.couriers = [
            Courier(
                self.pushes,
                email,
                lease=timedelta(seconds=self.settings.push_lease_seconds),
                worth_sending=self._worth_sending,
            ),
            Courier(
                self.pushes,
                self.webhook_sender,
                max_attempts=self.settings.webhook_max_attempts,
                first_retry=timedelta(seconds=self.settings.webhook_first_retry_seconds),
                lease=timedelta(seconds=self.settings.push_lease_seconds),
                worth_sending=self._worth_sending,
            ),
        ]
        return self._delivery

    async def _worth_sending(self, push: Push) -> bool:
        return await still_worth_sending(self.facts, push)

    @property
    def planner(self) -> ReminderPlanner:
        assert self._delivery is not None
        return ReminderPlanner(
            self.facts,
            self._delivery,
            lead_times=self.lead_times,
        )

    def run_alongside(self, runtime: ServiceRuntime) -> None:
        assert self._delivery is not None
        for courier in self._delivery.couriers:
            runtime.alongside(courier.run, f"courier-{courier.channel.value}")

    async def begin(self) -> None:
        await self.pushes.create_indexes()

    def desks(self, inboxes: Inboxes) -> ChannelDesks:
        """What the channels' handlers depend on."""

        async def check(url: str) -> None:
            await check_destination(self.allow, url)

        return ChannelDesks(
            preferences=PreferenceDesk(self.preferences, inboxes),
            webhooks=WebhookDesk(self.subscriptions),
            subscriptions=self.subscriptions,
            pushes=self.pushes,
            check_destination=check,
        )
