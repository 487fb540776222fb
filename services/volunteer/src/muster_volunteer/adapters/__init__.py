"""The volunteer context's adapters to the document store."""
