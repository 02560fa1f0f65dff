"""The firing-alert count shown beside "Alerts" in the navigation (templates/base.html)."""

from __future__ import annotations

from django.core.cache import cache

BADGE_CACHE_KEY = "alerts:firing"  # written by apps.alerts.services after each evaluation round


def alerts_badge(request) -> dict:
    """From the cache, so pages pay no database query for it (at most one round stale)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    try:
        return {"alerts_firing": cache.get(BADGE_CACHE_KEY) or 0}
    except Exception:  # Redis down: no badge rather than no page
        return {}
