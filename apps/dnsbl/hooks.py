"""Notifications for other modules (the alerts module): subscribe a callback, get every notice.

    from apps.dnsbl import hooks
    hooks.subscribe(my_callback)      # e.g. in AlertsConfig.ready()

Callbacks run after the transaction that produced the notice commits, in the process
that applied the results (a Celery worker or ``manage.py dnsbl_check``); one failing
callback is logged and never stops the others or the checker. Notice kinds:

- ``ip_paused``: an IP was paused after consecutive listings on a pause-worthy zone;
- ``ip_resumed``: an IP the checker paused was resumed after consecutive clean checks;
- ``resume_due``: the same, with ``MAILMON_DNSBL_AUTO_RESUME=false`` (an operator decides);
- ``listed`` / ``delisted``: a target's listing on a zone began or ended;
- ``zone_unhealthy``: a zone failed its RFC 5782 canaries (its answers are not trusted);
- ``resolver_misconfigured``: a zone answered mostly errors for several runs in a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypedDict

from django.db import transaction

log = logging.getLogger(__name__)

KINDS = ("ip_paused", "ip_resumed", "resume_due", "listed", "delisted", "zone_unhealthy", "resolver_misconfigured")


class DnsblNotice(TypedDict):
    kind: str
    target: str  # the IP address or domain; "" for zone notices
    zone: str
    code: str
    meaning: str
    detail: str


Subscriber = Callable[[DnsblNotice], None]
_subscribers: list[Subscriber] = []


def subscribe(callback: Subscriber) -> Subscriber:
    """Register ``callback`` (once) for every notice; returns it, so it can decorate."""
    if callback not in _subscribers:
        _subscribers.append(callback)
    return callback


def unsubscribe(callback: Subscriber) -> None:
    if callback in _subscribers:
        _subscribers.remove(callback)


def notify(kind: str, *, target: str = "", zone: str = "", code: str = "", meaning: str = "", detail: str = "") -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    notice: DnsblNotice = {
        "kind": kind, "target": target, "zone": zone, "code": code, "meaning": meaning, "detail": detail
    }
    transaction.on_commit(lambda: _deliver(notice))


def _deliver(notice: DnsblNotice) -> None:
    for callback in list(_subscribers):
        try:
            callback(notice)
        except Exception:
            log.exception("DNSBL notice subscriber %r failed", callback)
