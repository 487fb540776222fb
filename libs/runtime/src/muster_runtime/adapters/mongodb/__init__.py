"""Document-store adapters (MongoDB in production, FerretDB in development).

Everything tuned for the development store's costs lives here and nowhere else."""
