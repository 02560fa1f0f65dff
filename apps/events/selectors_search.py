"""Raw event lookups for the drill-down list (/events/search/): newest first, one page at a time.

Aggregates live in ``selectors.py`` and read rollups; this module reads
``EmailEvent`` rows themselves, always bounded by a time range so that only the
partitions of that range are scanned.
"""

from __future__ import annotations

from dataclasses import dataclass

from apps.ips.models import SendingIP

from .models import EmailEvent
from .selectors import EventFilters, TimeRange


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
    """One page of matching events, newest first.

    No total count: counting millions of raw rows for a pager costs more than the
    page itself, so the page fetches one extra row to know whether a next one exists.
    """
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
    offset = (page - 1) * page_size
    rows = list(events.select_related("node").order_by("-time", "-id")[offset : offset + page_size + 1])
    return EventPage(events=rows[:page_size], page=page, page_size=page_size, has_next=len(rows) > page_size)
