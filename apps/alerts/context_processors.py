"""The firing-alert count shown beside "Alerts" in the navigation (templates/base.html)."""

from __future__ import annotations

from .models import Alert


def alerts_badge(request) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"alerts_firing": Alert.objects.firing().count()}
