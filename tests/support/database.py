"""The test database as a DATABASE_URL, so that a command run in another process works on the same data."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def shared_database_url() -> str:
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    password = f":{quote(settings['PASSWORD'], safe='')}" if settings.get("PASSWORD") else ""
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return (
        f"postgres://{quote(settings['USER'], safe='')}{password}@{settings['HOST']}{port}/{settings['NAME']}"
    )
