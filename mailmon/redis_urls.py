"""Which Redis databases mailmon uses, from ``REDIS_URL`` (docs/operations.md, "Redis").

mailmon uses three consecutive databases starting at the URL's own number N:
N for the Celery broker, N+1 for the cache (rate limits, heartbeats, counters)
and N+2 for the Channels layer. They are separate so that flushing the cache never
drops queued tasks, and so that an install given ``redis://host/0`` keeps the
databases it has always used. ``MAILMON_REDIS_DB_OFFSET`` shifts all three (the
test suite uses 4 so that it never touches a portal's data on a shared server).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlparse

from mailmon.env import ConfigError

ROLES = ("broker", "cache", "channels")  # in database order: N, N+1, N+2
SCHEMES = {"redis", "rediss", "unix"}


def redis_base_db(url: str) -> int:
    """The database number ``url`` names (``redis://host/7`` or ``…?db=7``); 0 when it names none."""
    parsed = urlparse(url)
    if parsed.scheme not in SCHEMES:
        raise ConfigError(f"REDIS_URL: expected redis://, rediss:// or unix://, got {parsed.scheme!r}")
    query = dict(parse_qsl(parsed.query))
    path_db = parsed.path.strip("/") if parsed.scheme != "unix" else ""
    raw = path_db or query.get("db", "")
    if raw == "":
        return 0
    if not raw.isdigit():
        raise ConfigError(f"REDIS_URL: the database must be a number (redis://host:6379/0), got {raw!r}")
    return int(raw)


def redis_db_url(url: str, db: int) -> str:
    """``url`` pointing at database ``db``; everything else (auth, TLS, query options) kept."""
    parsed = urlparse(url)
    options = [(key, value) for key, value in parse_qsl(parsed.query) if key != "db"]
    if parsed.scheme == "unix":  # unix://[:password@]/path/redis.sock?db=N (urlunparse would drop the //)
        return f"unix://{parsed.netloc}{parsed.path}?{urlencode([*options, ('db', str(db))])}"
    return parsed._replace(path=f"/{db}", query=urlencode(options)).geturl()


def redis_urls(url: str, *, offset: int = 0) -> dict[str, str]:
    """``{"broker": …, "cache": …, "channels": …}``: databases N+offset, N+offset+1, N+offset+2."""
    first = redis_base_db(url) + offset
    return {role: redis_db_url(url, first + index) for index, role in enumerate(ROLES)}
