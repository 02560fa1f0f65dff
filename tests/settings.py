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

from mailmon.env import envstr  # noqa: E402
from mailmon.settings import *  # noqa: E402, F403

# One test database per test run (pid): concurrent runs in one checkout must not drop each other's.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": envstr("MAILMON_TEST_DATABASE") or f"test_{DATABASES['default']['NAME']}_{os.getpid()}"  # noqa: F405
}

# The default PBKDF2 cost dominates a suite that logs in hundreds of times.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No collectstatic before tests: serve static files as they are.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
