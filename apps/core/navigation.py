"""The navigation registry: a module appears in the top bar when it is built.

Each app registers its pages from ``AppConfig.ready()`` (core imports no module app, as
with ``timeseries.TABLES`` and ``health.QUEUE_DEPTHS``); a module that only has a "not built
yet" page registers nothing, so it is not offered. ``context_processors.navigation`` reads
the registry for every page, ordered by ``order``, leaving out pages the user may not see.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    order: int
    permission: str | None = None  # e.g. "events.view_emailevent"; None: every logged-in user


NAV_ITEMS: dict[str, NavItem] = {}


def nav_register(*, label: str, url_name: str, order: int, permission: str | None = None) -> None:
    """Offer the page ``url_name`` in the navigation (idempotent: keyed by ``url_name``)."""
    NAV_ITEMS[url_name] = NavItem(label=label, url_name=url_name, order=order, permission=permission)


def nav_items() -> list[NavItem]:
    return sorted(NAV_ITEMS.values(), key=lambda item: (item.order, item.label))
