"""The event store port's names at the module path services imported them from before
ports and adapters were split; new code imports `muster_runtime.ports.event_store` (the
port) or `muster_runtime.adapters.mongodb.event_store` (the document-store adapter)."""

from muster_runtime.ports.event_store import (
    CommandContext as CommandContext,
)
from muster_runtime.ports.event_store import (
    ConcurrencyError as ConcurrencyError,
)
from muster_runtime.ports.event_store import (
    EventStore as EventStore,
)
from muster_runtime.ports.event_store import (
    Stream as Stream,
)
