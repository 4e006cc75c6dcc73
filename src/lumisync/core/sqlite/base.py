"""Django's SQLite backend, remembering how it rewrote a query's placeholders.

Django writes ``%s`` placeholders and its SQLite cursor rewrites them to ``?`` with a regular expression on
every execution. The sync's bulk statements run the same text of several hundred rows again and again, and
rewriting it each time costs about a twentieth of a file-mode run; the rewrite of a text seen before is
taken from a cache instead. Everything else is Django's backend unchanged.
"""

from __future__ import annotations

import functools

from django.db.backends.sqlite3 import base

# Distinct texts remembered: the bulk statements of every table and batch size, with room for the rest.
CACHED_QUERIES = 256


class CursorWrapper(base.SQLiteCursorWrapper):
    def convert_query(self, query, *, param_names=None):
        if param_names is None:
            return _in_qmark_style(query)
        return super().convert_query(query, param_names=param_names)


@functools.lru_cache(maxsize=CACHED_QUERIES)
def _in_qmark_style(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        return self.connection.cursor(factory=CursorWrapper)
