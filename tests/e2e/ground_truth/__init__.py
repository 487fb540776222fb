"""An independent ground truth for the end-to-end reports: a generator that drives only the
public HTTP API (`district`) and the counting rules as written, computed with its own code
(`rules`). Nothing here imports the services', runtime's or contracts' code: the only shared
piece is the test fixture that starts the services and mints tokens."""
