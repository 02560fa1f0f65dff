"""Agent authentication: ``Authorization: Api-Key <key>``, hashed keys, CIDR allowlists.

Unknown, malformed or revoked keys get 401; a valid key used from an address
outside its allowlist gets 403. Both the DRF views and the plain ingest view
call :func:`authenticate_agent`.

Verified keys are kept in a small per-process cache (SHA-256 of the presented key → the
key's row), re-read from PostgreSQL once an entry is ``MAILMON_AGENT_KEY_CACHE_SECONDS``
old: agents poll every few seconds, and the lookup was most of a cheap request's cost.
So a key revoked, expired, edited or deleted elsewhere is refused (or re-scoped) by every
process within that many seconds; the admin empties its own process's cache at once.
Unknown keys are never cached, so a new key works on its first request.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from .models import AgentAPIKey
from .netutil import client_address

KEYWORD = "Api-Key"


class AgentAuthError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class AgentPrincipal:
    """Who is calling: the key (and so its node scope) and from where."""

    key: AgentAPIKey
    address: str | None

    is_authenticated = True
    is_anonymous = False
    is_staff = False

    @property
    def name(self) -> str:
        return self.key.name

    def get_username(self) -> str:
        return f"agent:{self.key.name}"

    def has_perm(self, perm: str, obj=None) -> bool:
        return False


def key_from_header(header: str | None) -> str | None:
    if not header:
        return None
    keyword, _, value = header.partition(" ")
    if keyword != KEYWORD or not value.strip():
        return None
    return value.strip()


def authenticate_agent(meta: dict) -> AgentPrincipal:
    """Check the request's key and address; raises AgentAuthError with 401 or 403."""
    raw = key_from_header(meta.get("HTTP_AUTHORIZATION"))
    if raw is None:
        raise AgentAuthError(401, "Authorization header with 'Api-Key <key>' required.")
    try:
        key = _key_for(raw)
    except AgentAPIKey.DoesNotExist:
        raise AgentAuthError(401, "Unknown API key.") from None
    if key.revoked or key.has_expired:
        raise AgentAuthError(401, "API key revoked or expired.")
    address = client_address(meta)
    if not key.allows_address(address):
        raise AgentAuthError(403, f"API key not allowed from {address}.")
    _touch(key)
    return AgentPrincipal(key=key, address=address)


# SHA-256 of a presented key → (its row, time.monotonic() when read). Plain dict operations
# are atomic under the GIL, so gunicorn's threads share it without a lock; two threads
# missing at once both read the row, which is harmless.
_KEYS: dict[bytes, tuple[AgentAPIKey, float]] = {}
_KEYS_MAX = 10_000  # distinct valid keys per process before the cache starts over


def _key_for(raw: str) -> AgentAPIKey:
    """The key row for ``raw`` (revoked or not), from the cache while its entry is fresh."""
    ttl = settings.MAILMON_AGENT_KEY_CACHE_SECONDS
    digest = hashlib.sha256(raw.encode()).digest()  # a hit proves the presented key was verified before
    now = time.monotonic()
    hit = _KEYS.get(digest)
    if hit is not None and now - hit[1] < ttl:
        return hit[0]
    try:
        key = AgentAPIKey.objects.get_from_key_any(raw)
    except AgentAPIKey.DoesNotExist:
        _KEYS.pop(digest, None)  # deleted since it was cached
        raise
    if ttl > 0:
        if len(_KEYS) >= _KEYS_MAX:
            _KEYS.clear()
        _KEYS[digest] = (key, now)
    return key


def agent_keys_forget() -> None:
    """Empty this process's key cache: the next request of every key reads its row again."""
    _KEYS.clear()


def _touch(key: AgentAPIKey) -> None:
    # One write a minute at most: agents call every few seconds. ``key`` may be the cached
    # row shared by later requests, so it keeps the time written.
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        AgentAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


class AgentKeyAuthentication(authentication.BaseAuthentication):
    """DRF authentication for agent endpoints."""

    def authenticate(self, request):
        try:
            principal = authenticate_agent(request.META)
        except AgentAuthError as exc:
            if exc.status == 403:
                raise exceptions.PermissionDenied(exc.detail) from None
            raise exceptions.AuthenticationFailed(exc.detail) from None
        return principal, principal.key

    def authenticate_header(self, request) -> str:
        return KEYWORD


class AgentKeyScheme(OpenApiAuthenticationExtension):
    """Names the agents' ``Authorization: Api-Key <key>`` scheme in the OpenAPI schema."""

    target_class = AgentKeyAuthentication
    name = "AgentApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "Agent key: `Authorization: Api-Key <key>` (create with manage.py create_agent_key).",
        }
