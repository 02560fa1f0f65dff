"""REDIS_URL's database number is honoured: mailmon uses N, N+1, N+2 from it, never db 0-2 behind its back."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.conf import settings

from mailmon.env import ConfigError
from mailmon.redis_urls import redis_base_db, redis_urls


def test_the_urls_database_is_the_first_of_the_three():
    assert redis_urls("redis://redis.example:6379/7") == {
        "broker": "redis://redis.example:6379/7",
        "cache": "redis://redis.example:6379/8",
        "channels": "redis://redis.example:6379/9",
    }


def test_a_url_without_a_database_starts_at_zero():
    assert redis_urls("redis://redis.example") == {
        "broker": "redis://redis.example/0", "cache": "redis://redis.example/1", "channels": "redis://redis.example/2",
    }


def test_the_offset_shifts_all_three_from_the_urls_database():
    urls = redis_urls("redis://redis.example/7", offset=4)
    assert [redis_base_db(url) for url in urls.values()] == [11, 12, 13]


def test_a_database_given_as_a_query_option_counts_too():
    assert redis_base_db("redis://redis.example/?db=3") == 3
    assert redis_urls("unix:///run/redis/redis.sock?db=3")["channels"] == "unix:///run/redis/redis.sock?db=5"


def test_a_unix_socket_url_keeps_its_path_and_password():
    urls = redis_urls("unix://:secret@/run/redis/redis.sock")
    assert urls["broker"] == "unix://:secret@/run/redis/redis.sock?db=0"
    assert urls["cache"] == "unix://:secret@/run/redis/redis.sock?db=1"


def test_credentials_port_and_tls_options_are_kept():
    urls = redis_urls("rediss://mm:pw@redis.example:6380/2?ssl_cert_reqs=required")
    assert urls["cache"] == "rediss://mm:pw@redis.example:6380/3?ssl_cert_reqs=required"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://redis.example/seven", "the database must be a number"),
        ("redis://redis.example/-1", "the database must be a number"),
        ("http://redis.example/0", "expected redis://, rediss:// or unix://"),
    ],
)
def test_a_malformed_url_is_a_clear_error_naming_redis_url(url, message):
    with pytest.raises(ConfigError, match=f"REDIS_URL: {message}"):
        redis_urls(url)


def test_the_test_run_uses_databases_shifted_by_four():
    # tests/conftest.py flushes the cache database before every test: never a portal's db 0-2.
    base = redis_base_db(settings.REDIS_URL)
    assert redis_base_db(settings.CACHES["default"]["LOCATION"]) == base + 4 + 1
    assert redis_base_db(settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]["address"]) == base + 4 + 2


def _settings_of(**env: str) -> subprocess.CompletedProcess:
    code = ("from django.conf import settings as s; "
            "print(s.CELERY_BROKER_URL, s.CACHES['default']['LOCATION'], "
            "s.CHANNEL_LAYERS['default']['CONFIG']['hosts'][0]['address'], s.MAILMON_TIMESERIES)")
    return subprocess.run(
        [sys.executable, "-c", f"import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', "
                               f"'mailmon.settings'); django.setup(); {code}"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.DATABASE_URL, "MAILMON_VAR_DIR": str(settings.VAR_DIR),
             **env},
    )


def test_settings_give_the_broker_cache_and_channels_the_urls_databases():
    result = _settings_of(REDIS_URL="redis://127.0.0.1:6399/7", MAILMON_TIMESERIES="partitions")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "redis://127.0.0.1:6399/7", "redis://127.0.0.1:6399/8", "redis://127.0.0.1:6399/9", "partitions",
    ]


def test_an_unknown_timeseries_choice_stops_the_process_naming_the_variable():
    result = _settings_of(REDIS_URL="redis://127.0.0.1:6399/0", MAILMON_TIMESERIES="hypertables")
    assert result.returncode != 0
    assert "MAILMON_TIMESERIES: expected one of auto, partitions, timescaledb, got 'hypertables'" in result.stderr
