"""The HTTP edge of a Muster service, built on `muster_runtime`: the FastAPI app, retry-safe
POSTs, the API docs pages and the wiring of handlers' collaborators."""
