"""Pure rules of the volunteer context: decide and evolve, no I/O."""
