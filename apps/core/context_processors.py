"""Navigation shared by every page: each module, and whether it is built yet."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

# (label, url name, icon-free short description)
NAVIGATION = [
    ("Fleet", "nodes-overview"),
    ("Email flow", "events-flow"),
    ("Performance", "events-performance"),
    ("Queue", "events-queue"),
    ("Bounces", "events-bounces"),
    ("Destinations", "events-destinations"),
    ("Sending IPs", "ips-index"),
    ("Pools", "pools-index"),
    ("Reputation", "dnsbl-index"),
    ("Warmup", "warmup-index"),
    ("Alerts", "alerts-index"),
    ("Reports", "reports-index"),
]


def navigation(request):
    items = []
    for label, name in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "active": request.path == url})
    return {"nav_items": items}
