"""Dead-lettered deliveries from the command line: list them, and re-drive them.

    python -m muster_notify.entrypoints.channels_cli dead [--channel webhook]
    python -m muster_notify.entrypoints.channels_cli redrive [--channel webhook] [ID ...]

Without ids, `redrive` re-drives every dead delivery of the channel; a running notify
sends them on its next round, from the first try again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import datetime

from muster_notify.adapters.channels_store import MongoPushes
from muster_notify.application.channels import Pushes
from muster_notify.application.delivery import utc_now
from muster_notify.channels_root import ChannelSettings
from muster_notify.domain.preferences import Channel
from muster_runtime.mongo import connect

PAGE = 1000


async def redrive(
    pushes: Pushes, channel: Channel, delivery_ids: Sequence[str], at: datetime | None = None
) -> int:
    """Re-drive the deliveries named, or every dead one of the channel, due from `at`."""
    at = at or utc_now()
    if delivery_ids:
        return await pushes.redrive(delivery_ids, at)
    total = 0
    while dead := await pushes.dead(channel, PAGE):
        total += await pushes.redrive([p.delivery_id for p in dead], at)
    return total


async def _run(args: argparse.Namespace) -> int:
    settings = ChannelSettings(service_name="notify")
    client = connect(settings.mongo_url)
    try:
        pushes = MongoPushes(client[settings.database_name])
        channel = Channel(args.channel)
        if args.command == "dead":
            for push in await pushes.dead(channel, PAGE):
                last = push.errors[-1] if push.errors else ""
                print(f"{push.delivery_id}\t{push.attempts}\t{last}")
            return 0
        print(f"re-driven: {await redrive(pushes, channel, args.ids)}")
        return 0
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("command", choices=("dead", "redrive"))
    parser.add_argument("ids", nargs="*", help="delivery ids (redrive; none: all dead)")
    parser.add_argument(
        "--channel", default=Channel.WEBHOOK.value, choices=[c.value for c in Channel]
    )
    return asyncio.run(_run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
