"""``lumisync sync ...`` in a process of its own, against the test database, for the kill-and-resume tests.

The test's simulator answers plain http on 127.0.0.1, which only a test site may use: this allows it as
the test settings do, then runs the command with the arguments given.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lumisync.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

settings.LUMISYNC_ALLOW_PRIVATE_HOSTS = True
settings.LUMISYNC_ALLOW_INSECURE_HTTP = True

if __name__ == "__main__":
    call_command("sync", *sys.argv[1:])
