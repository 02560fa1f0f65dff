"""Raw event lookups for the event list (/events/search/, GET /api/v1/events): newest first,
one page at a time, keyset-paginated on (time, id).

Aggregates live in ``selectors.py``; this module reads ``EmailEvent`` rows themselves,
always bounded by a time range so that only the partitions of that range are scanned.
``q`` is classified by ``time_range.classify_q``. IP, address, local part, queue id and
sender domain are looked up in the GIN index of ``SearchTokens`` (migration 0008):
``tokens && ARRAY[word]`` finds the candidate rows, and the exact condition on the column is
checked on them (an address → its local part's token, recipient or sender; a bare word →
its token as written and in lower case, queue id or local part). Message-ID → the hash
index (also for an address, which may be a Message-ID typed without brackets); recipient
domain → ``(recipient_domain, time)``; text → the ``response`` trigram index where it is
enabled, else the newest windows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

from apps.ips.models import SendingIP
from apps.nodes.models import Node

from .models import EmailEvent
from .models.events import QueueId, SearchTokens
from .time_range import Cursor, EventCriteria, EventFilters, SearchTerm, TimeRange

# Newest-first windows tried before the whole range (see _newest): small first, because a
# busy fleet stores thousands of events a second and every row of a window gets sorted.
SEARCH_WINDOWS = tuple(dt.timedelta(minutes=m) for m in (1, 10, 60, 360, 1440, 10080))
# Kinds that always match a handful of events (one message): the index finds every match at
# once, so trying windows would only repeat the lookup up to 7 times. (An address or a local
# part may be a sender's, matching millions: those keep the windows.)
SELECTIVE_KINDS = frozenset({"message_id"})


@dataclass(frozen=True)
class EventPage:
    events: list[EmailEvent]
    next_cursor: str | None
    kind: str | None  # how q was read in the end ("token" may fall back to "text")
    first: bool  # no cursor was given

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None


def events_search(
    *,
    time_range: TimeRange,
    filters: EventFilters,
    criteria: EventCriteria | None = None,
    cursor: Cursor | None = None,
    page_size: int = 50,
) -> EventPage:
    """One page of matching events, newest first; each event carries ``node_hostname``.

    No total count: counting millions of raw rows for a pager costs more than the page
    itself, so the page fetches one extra row to know whether a next one exists. A bare
    word that is nobody's queue id or local part is searched again as response text.
    """
    criteria = criteria or EventCriteria()
    term = criteria.term
    if term is not None and cursor is not None and cursor.kind:
        term = SearchTerm(cursor.kind, term.value)
    rows = _page(time_range, filters, criteria, term, cursor, page_size)
    if not rows and cursor is None and term is not None and term.kind == "token" and len(term.value) >= 3:
        term = SearchTerm("text", term.value)
        rows = _page(time_range, filters, criteria, term, cursor, page_size)
    _attach_hostnames(rows)
    kind = term.kind if term else None
    more = len(rows) > page_size
    rows = rows[:page_size]
    next_cursor = Cursor(time=rows[-1].time, id=rows[-1].pk, kind=kind).encode() if more else None
    return EventPage(events=rows, next_cursor=next_cursor, kind=kind, first=cursor is None)


def message_events(event: EmailEvent) -> list[EmailEvent]:
    """Every event of ``event``'s message (same Message-ID), oldest first; just it without one."""
    if not event.message_id:
        rows = [event]
    else:
        rows = list(EmailEvent.objects.filter(message_id=event.message_id).order_by("time", "id")[:1000])
    _attach_hostnames(rows)
    return rows


def event_get(*, pk: int, time: dt.datetime | None = None) -> EmailEvent | None:
    events = EmailEvent.objects.filter(pk=pk)
    if time is not None:  # prunes to one partition
        events = events.filter(time=time)
    return events.first()


def _attach_hostnames(rows: list[EmailEvent]) -> None:
    hostnames = dict(Node.objects.filter(pk__in={row.node_id for row in rows}).values_list("pk", "hostname"))
    for row in rows:
        row.node_hostname = hostnames.get(row.node_id, f"node #{row.node_id}")


def _page(time_range, filters, criteria, term, cursor, page_size) -> list[EmailEvent]:
    events = _matching(time_range=time_range, filters=filters, criteria=criteria, term=term)
    upper = time_range.end
    if cursor is not None:
        events = events.filter(Q(time__lt=cursor.time) | Q(time=cursor.time, id__lt=cursor.id))
        upper = min(upper, cursor.time + dt.timedelta(microseconds=1))
    if term is not None and term.kind in SELECTIVE_KINDS:
        return list(events[: page_size + 1])
    return _newest(events, start=time_range.start, end=upper, limit=page_size + 1)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _term_q(term: SearchTerm) -> Q:
    """The rows ``term`` matches: a token lookup (the GIN index) and the exact condition."""
    value = term.value
    message_ids = [f"<{value}>", value]
    if term.kind == "ip":
        return Q(tokens__overlap=[value]) & Q(sending_ip=value)
    if term.kind == "message_id":
        return Q(message_id__in=message_ids)
    if term.kind == "address":
        local = value.split("@", 1)[0]  # as split_part() cuts it
        return (Q(tokens__overlap=[local]) & (Q(rcpt_lower=value) | Q(sender_lower=value))) | Q(
            message_id__in=message_ids
        )
    if term.kind == "domain":
        return Q(recipient_domain=value) | (Q(tokens__overlap=[value]) & Q(sender_domain=value))
    if term.kind == "token":
        local = f"{value.lower()}@"
        return Q(tokens__overlap=sorted({value, value.lower()})) & (
            Q(queue_id=value) | Q(rcpt_lower__startswith=local) | Q(sender_lower__startswith=local)
        )
    return Q(response__ilike=f"%{_like_escape(value)}%")


def _matching(*, time_range: TimeRange, filters: EventFilters, criteria: EventCriteria,
              term: SearchTerm | None) -> QuerySet[EmailEvent]:
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
    if criteria.types:
        events = events.filter(type__in=criteria.types)
    if criteria.category:
        events = events.filter(bounce_category=criteria.category)
    if criteria.code is not None and criteria.code.basic is not None:
        events = events.filter(status_code=criteria.code.basic)
    if criteria.code is not None and criteria.code.enhanced is not None:
        events = events.filter(enhanced_status=criteria.code.enhanced)
    if term is not None:
        events = term_filter(events, term)
    return events.order_by("-time", "-id")


def term_filter(events: QuerySet[EmailEvent], term: SearchTerm) -> QuerySet[EmailEvent]:
    """``events`` narrowed to the rows ``term`` matches, through the indexes named above."""
    events = events.alias(
        tokens=SearchTokens(), rcpt_lower=Lower("recipient"), sender_lower=Lower("sender"), queue_id=QueueId()
    )
    return events.filter(_term_q(term))


def _newest(events: QuerySet[EmailEvent], *, start: dt.datetime, end: dt.datetime, limit: int) -> list[EmailEvent]:
    """The first ``limit`` rows of ``events`` (newest first), looking at recent windows first.

    "Newest first" sorts every matching row of a window. If the newest window already
    holds enough rows they are the answer (everything outside it is older); otherwise
    widen it, up to the whole range.
    """
    for window in SEARCH_WINDOWS:
        lower = end - window
        if lower <= start:
            break
        rows = list(events.filter(time__gte=lower)[:limit])
        if len(rows) == limit:
            return rows
    return list(events[:limit])
