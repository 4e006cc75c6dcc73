"""Django's SQLite backend, with each query's conversion to SQLite's placeholders remembered (see base)."""
