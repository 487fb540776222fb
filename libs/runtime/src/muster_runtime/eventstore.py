"""The event store port's vocabulary under a shorter path (`CommandContext`,
`ConcurrencyError`, `EventStore`, `Stream`). The port is `muster_runtime.ports.event_store`
and the document-store adapter `muster_runtime.adapters.mongodb.event_store`."""

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
