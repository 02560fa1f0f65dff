"""Navigation shared by every page: the modules that registered a page (``navigation.py``)."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from .navigation import nav_items


def navigation(request):
    user = getattr(request, "user", None)
    items = []
    for item in nav_items():
        if item.permission and not (user is not None and user.has_perm(item.permission)):
            continue
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue
        items.append({"label": item.label, "url": url, "active": request.path == url})
    return {"nav_items": items}
