"""Raw event lookups for the drill-down list (/events/search/): newest first, one page at a time.

Aggregates live in ``selectors.py``; this module reads
``EmailEvent`` rows themselves, always bounded by a time range so that only the
partitions of that range are scanned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet

from apps.ips.models import SendingIP
from apps.nodes.models import Node

from .models import EmailEvent
from .time_range import EventFilters, TimeRange

# Newest-first windows tried before the whole range (see _newest): small first, because a
# busy fleet stores thousands of events a second and every row of a window gets sorted.
SEARCH_WINDOWS = tuple(dt.timedelta(minutes=m) for m in (1, 10, 60, 360, 1440, 10080))


@dataclass(frozen=True)
class EventPage:
    events: list[EmailEvent]
    page: int
    page_size: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def events_search(
    *,
    time_range: TimeRange,
    filters: EventFilters,
    types: list[str] | None = None,
    category: str | None = None,
    status_code: int | None = None,
    page: int = 1,
    page_size: int = 50,
) -> EventPage:
    """One page of matching events, newest first; each event carries ``node_hostname``.

    No total count: counting millions of raw rows for a pager costs more than the
    page itself, so the page fetches one extra row to know whether a next one exists.
    """
    events = _matching(time_range=time_range, filters=filters, types=types, category=category,
                       status_code=status_code)
    offset = (page - 1) * page_size
    rows = _newest(events, time_range=time_range, offset=offset, limit=page_size + 1)
    hostnames = dict(Node.objects.filter(pk__in={row.node_id for row in rows}).values_list("pk", "hostname"))
    for row in rows:
        row.node_hostname = hostnames.get(row.node_id, f"node #{row.node_id}")
    return EventPage(events=rows[:page_size], page=page, page_size=page_size, has_next=len(rows) > page_size)


def _matching(*, time_range, filters, types, category, status_code) -> QuerySet[EmailEvent]:
    events = EmailEvent.objects.filter(time__gte=time_range.start, time__lt=time_range.end)
    if filters.node is not None:
        events = events.filter(node_id=filters.node)
    if filters.ip:
        events = events.filter(sending_ip=filters.ip)
    if filters.pool is not None:
        events = events.filter(sending_ip__in=SendingIP.objects.filter(pool_id=filters.pool).values("address"))
    if filters.from_domain:
        events = events.filter(sender_domain=filters.from_domain)
    if filters.to_domain:
        events = events.filter(recipient_domain=filters.to_domain)
    if types:
        events = events.filter(type__in=types)
    if category:
        events = events.filter(bounce_category=category)
    if status_code is not None:
        events = events.filter(status_code=status_code)
    return events.order_by("-time", "-id")


def _newest(events: QuerySet[EmailEvent], *, time_range: TimeRange, offset: int, limit: int) -> list[EmailEvent]:
    """Rows ``offset``..``offset+limit`` of ``events`` (newest first), looking at recent windows first.

    The events table has only a BRIN index on time, so "newest first" sorts every row
    in the window. If the newest window already holds enough rows they are the answer
    (everything outside it is older); otherwise widen it, up to the whole range.
    """
    for window in SEARCH_WINDOWS:
        lower = time_range.end - window
        if lower <= time_range.start:
            break
        rows = list(events.filter(time__gte=lower)[offset : offset + limit])
        if len(rows) == limit:
            return rows
    return list(events[offset : offset + limit])
