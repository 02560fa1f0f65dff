"""Settings for test runs (pytest's DJANGO_SETTINGS_MODULE, and the processes tests start).

The test setup is an entry point like ``manage.py``: it makes the one explicit
``embedded.start`` call, before ``mailmon.settings`` reads the environment. A test run
gets a Redis of its own (concurrent runs would flush each other's data); the embedded
PostgreSQL it started is stopped when the run ends (``tests/conftest.py``).
"""

from __future__ import annotations

import os

from mailmon import embedded

EMBEDDED_STARTED = embedded.start(private_redis=True)
# Redis databases of their own, never a running portal's (when REDIS_URL names a shared server).
os.environ.setdefault("MAILMON_REDIS_DB_OFFSET", "4")

from mailmon.settings import *  # noqa: E402, F403

# The default PBKDF2 cost dominates a suite that logs in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No collectstatic before tests: serve static files as they are.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
