"""A service's `rebuild` command: the next version of its read models from the event log,
built beside the live one while the service keeps serving and consuming
(`online_rebuild`), and what it did, printed; `serve_or_rebuild` is the command line of a
service that only serves or rebuilds.

Only read models are rebuilt: documents a service derives from the events it consumes.
Its event store, outbox, idempotency records, claims and other write-side state are
its own and stay in its database, never versioned.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypedDict, TypeVar, Unpack

from fastapi import FastAPI

from muster_contracts.topology import event_topic
from muster_runtime.adapters.mongodb.online_rebuild import (
    OnlineRebuildResult,
    ReadModels,
    rebuild_online,
)
from muster_runtime.adapters.mongodb.read_model_versions import ReadModelVersions
from muster_runtime.consumer import Stage, apply_stages
from muster_runtime.mongo import Database, MongoClient, connect
from muster_runtime.projections import ConsumedEvent
from muster_runtime.rebuild import DeadLetters
from muster_runtime.service import consumer_group
from muster_runtime.settings import ServiceSettings
from muster_runtime.topics import dead_letter_topic

# Tests set it to stop a rebuild just before its switch, and kill it there.
HOLD_BEFORE_SWITCH = "MUSTER_REBUILD_HOLD_BEFORE_SWITCH"


def read_model_versions(client: MongoClient, settings: ServiceSettings) -> ReadModelVersions:
    """The versions of the service's read models, beside its database."""
    return ReadModelVersions(client, settings.database_name, settings.service_name)


class Buffering(Protocol):
    """A read model that can count in memory until it writes its documents in bulk."""

    def buffer(self) -> None: ...

    async def flush(self) -> None: ...


@dataclass(frozen=True)
class RebuiltReadModels:
    """Read models a rebuild fills through the very handlers live consumption runs: those
    `buffered` fold the replay in memory and write their documents in bulk, the others
    write each event as it is applied."""

    handlers: Sequence[Stage]
    indexes: Callable[[], Awaitable[None]]
    buffered: Sequence[Buffering] = ()
    event_types: Collection[str] | None = None

    async def apply(self, events: list[ConsumedEvent]) -> None:
        await apply_stages(self.handlers, events)

    def buffer(self) -> None:
        for model in self.buffered:
            model.buffer()

    async def flush(self) -> None:
        for model in self.buffered:
            await model.flush()

    async def settle(self) -> None:
        await self.indexes()


class RebuildOptions(TypedDict, total=False):
    """How a rebuild runs (`rebuild_online`'s options)."""

    dry_run: bool
    show_progress: bool
    before_switch: Callable[[], Any] | None
    grace_seconds: float
    batch_size: int


async def rebuild_service(
    settings: ServiceSettings,
    collections: Sequence[str],
    build: Callable[[Database], ReadModels],
    consumes: Sequence[str],
    **options: Unpack[RebuildOptions],
) -> OnlineRebuildResult:
    """Build the next version of the service's read models (`collections`, made by
    `build` on a version's database) from the topics it `consumes`, and switch to it; with
    `dry_run`, say what would change instead."""
    client = connect(settings.mongo_url, settings.mongo_max_pool)
    try:
        return await rebuild_online(
            read_model_versions(client, settings),
            collections,
            build,
            settings.kafka_bootstrap,
            [event_topic(settings.topic_prefix, context) for context in consumes],
            consumer_group(settings),
            dead_letters=DeadLetters(
                settings.kafka_bootstrap,
                dead_letter_topic(settings.topic_prefix, settings.service_name),
                settings.topic_partitions,
                settings.topic_replication,
            ),
            fold_documents=settings.rebuild_fold_documents,
            **options,
        )
    finally:
        await client.close()


class Rebuild(Protocol):
    def __call__(
        self,
        *,
        dry_run: bool,
        show_progress: bool,
        before_switch: Callable[[], Any] | None,
    ) -> Coroutine[Any, Any, OnlineRebuildResult]: ...


def add_rebuild_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="rebuild: build the new version, report what would change, drop it",
    )
    parser.add_argument("--no-progress", action="store_true", help="rebuild: no progress bars")


async def _hold() -> None:
    print("holding before the switch", flush=True)
    await asyncio.Event().wait()


def run_rebuild(rebuild: Rebuild, args: argparse.Namespace) -> None:
    """Run the `rebuild` command with the options `add_rebuild_options` added, and print
    what it did."""
    result = asyncio.run(
        rebuild(
            dry_run=args.dry_run,
            show_progress=not args.no_progress,
            before_switch=_hold if os.environ.get(HOLD_BEFORE_SWITCH) else None,
        )
    )
    report(result, args.dry_run)


Settings = TypeVar("Settings", bound=ServiceSettings)


def serve_or_rebuild(
    prog: str,
    description: str | None,
    settings_of: Callable[[], Settings],
    build_app: Callable[[Settings], FastAPI],
    serve: Callable[[FastAPI, str, int], None],
    rebuild: Callable[[Settings], Rebuild],
    argv: Sequence[str] | None = None,
) -> None:
    """A service's command line: serve it (the default: `serve(app, host, port)`, the
    HTTP edge's server), or `rebuild` its read models (`rebuild(settings)`: its rebuild with
    its settings) and print what that did."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "rebuild"])
    add_rebuild_options(parser)
    args = parser.parse_args(argv)
    settings = settings_of()
    if args.command == "rebuild":
        run_rebuild(rebuild(settings), args)
        return
    serve(build_app(settings), settings.http_host, settings.http_port)


def report(result: OnlineRebuildResult, dry_run: bool) -> None:
    print(
        f"replayed {result.events} events in {result.seconds:.2f} s ({result.rate:,.0f} events/s;"
        f" writing the read models took {result.write_seconds:.2f} s of it, reading and folding"
        f" the log {result.fold_seconds:.2f} s), then caught up {result.caught_up} more"
    )
    if result.steps:
        print("steps: " + ", ".join(f"{step} {s:.2f} s" for step, s in result.steps.items()))
    if result.parts > 1:
        print(f"wrote the replay in {result.parts} parts (past the documents a part may fold)")
    if dry_run:
        if not result.changes:
            print("dry run: the rebuilt read models equal the live ones; nothing would change")
        for change in result.changes:
            print(
                f"dry run: {change.collection}: {change.added} documents would be added,"
                f" {change.removed} removed, {change.changed} changed"
            )
    else:
        print(f"reads and writes now go to read models version {result.version}")
    if result.set_aside:
        print(f"set aside {result.set_aside} records it could not apply (muster dead-letters)")
