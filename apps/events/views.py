"""Email-flow pages: flow, performance, queue, bounces, destinations and the event list.

Every page shares the time-range picker (``range_picker.py``). A normal request gets
the full page; an htmx request (the picker, a sort header, a pager link) gets the
``partials/_<page>.html`` fragment that replaces ``#events-page``. Bad picker or
page parameters answer 400 with the form error naming the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from apps.nodes import selectors as node_selectors
from apps.nodes.models import Node
from apps.pools.models import IpPool

from . import charts, selectors, selectors_search
from .choices import BounceCategory, EventType
from .range_picker import Picker, error_messages, picker_from_query
from .time_range import FILTER_FIELDS, RANGE_CHOICES, parse_criteria, parse_cursor, parse_moment

PERM = "events.view_emailevent"
DESTINATIONS_PAGE_SIZE = 50
SEARCH_PAGE_SIZE = 50
LIVE_COUNTERS = ("delivered", "bounced", "deferred", "rejected")

Builder = Callable[[Picker, QueryDict], dict]


def _page(request: HttpRequest, name: str, build: Builder) -> HttpResponse:
    """Parse the picker, build the page's context, render the page or its htmx partial."""
    context: dict = {"page_name": name, "ranges": RANGE_CHOICES, "nodes": Node.objects.only("id", "hostname"),
                     "pools": IpPool.objects.only("id", "name"), "picker": None}
    status = 200
    try:
        context["picker"] = picker = picker_from_query(request.GET)
        context |= build(picker, request.GET)
    except ValidationError as exc:
        context["errors"] = error_messages(exc)
        status = 400
    context["form"] = _form_values(request.GET, context["picker"])
    template = f"events/partials/_{name}.html" if request.htmx else f"events/{name}.html"
    return render(request, template, context, status=status)


def _form_values(query: QueryDict, picker: Picker | None) -> dict[str, str]:
    """What the picker form shows: the resolved range when valid, else what was typed (to correct it)."""
    values = {name: query.get(name, "").strip() for name in ("range", "from", "to", "sort", "q", *FILTER_FIELDS)}
    if picker is not None:
        values |= {"range": picker.range, "from": picker.from_input, "to": picker.to_input}
    return values


def duration_label(ms: float | None) -> str:
    """1234 → "1.2 s", 416053 → "6.9 min": delivery times span milliseconds to hours."""
    if ms is None:
        return "—"
    for unit, size in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
        if ms >= size:
            return f"{ms / size:.1f} {unit}"
    return f"{ms:.0f} ms"


def _percent(rate: float | None) -> float | None:
    return None if rate is None else rate * 100


def _positive_int(query: QueryDict, name: str, default: int | None = None) -> int | None:
    raw = query.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValidationError({name: f"{name}: expected a positive integer, got {raw!r}."})
    return int(raw)


@login_required
@permission_required(PERM, raise_exception=True)
def flow(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        scope = {"time_range": picker.time_range, "filters": picker.filters}
        stats = selectors.stats(**scope)
        return {
            "stats": stats,
            "counters": [(key, stats[key], _percent(stats[f"{key}_rate"])) for key in LIVE_COUNTERS],
            "charts": [charts.throughput_chart(selectors.throughput(**scope, group_by="type")),
                       charts.node_lines_chart(selectors.throughput(**scope, group_by="node"))],
        }

    return _page(request, "flow", build)


@login_required
@permission_required(PERM, raise_exception=True)
def performance(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        scope = {"time_range": picker.time_range, "filters": picker.filters}
        stats = selectors.stats(**scope)
        return {
            "stats": stats,
            "percentiles": charts.percentiles_chart(
                stats["delivery_time_ms"], green_ms=settings.MAILMON_DELIVERY_GREEN_MS,
                yellow_ms=settings.MAILMON_DELIVERY_YELLOW_MS),
            "over_time": charts.delivery_time_chart(selectors.delivery_time_series(**scope)),
            "times": {key: duration_label(stats["delivery_time_ms"][key]) for key in ("p50", "p95", "p99", "avg")},
            "histogram": charts.histogram_chart(selectors.delivery_histogram(**scope)),
            "green_s": settings.MAILMON_DELIVERY_GREEN_MS / 1000,
            "yellow_s": settings.MAILMON_DELIVERY_YELLOW_MS / 1000,
        }

    return _page(request, "performance", build)


@login_required
@permission_required(PERM, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        data = node_selectors.queue(time_range=picker.time_range, node=picker.filters.node)
        deferred = selectors.deferred_reasons(time_range=picker.time_range, filters=picker.filters)
        return {
            "queue": data,
            "queue_now": [{**row, "time": dt.datetime.fromisoformat(row["time"])} for row in data["per_node_now"]],
            "queue_chart": charts.queue_chart(data),
            "deferred": deferred,
            "reasons": [{**row, "search": picker.query(type="deferred", category=row["category"])
                         if row["category"] else None} for row in deferred["reasons"]],
        }

    return _page(request, "queue", build)


@login_required
@permission_required(PERM, raise_exception=True)
def bounces(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        analysis = selectors.bounce_analysis(time_range=picker.time_range, filters=picker.filters)
        bounce_types = ["bounced", "rejected"]
        return {
            "analysis": analysis,
            # unclassified rows (empty slug) and rows without an SMTP code have nothing to filter on: no link
            "categories": [{**row, "search": picker.query(type=bounce_types, category=row["category"])
                            if row["category"] else None} for row in analysis["by_category"] if row["count"]],
            # "550 5.7.1" drills down to exactly those events, not every 550
            "codes": [{**row, "search": picker.query(type=bounce_types, code=charts.code_value(row))
                       if charts.code_value(row) else None} for row in analysis["by_code"] if row["count"]],
            "charts": [charts.bounce_category_chart(analysis), charts.bounce_code_chart(analysis)],
        }

    return _page(request, "bounces", build)


@login_required
@permission_required(PERM, raise_exception=True)
def destinations(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        sort = query.get("sort", "").strip() or "-sent"
        if sort.removeprefix("-") not in selectors.DESTINATION_SORTS:
            raise ValidationError({"sort": f"sort: expected one of {', '.join(selectors.DESTINATION_SORTS)} "
                                           f"(\"-\" for descending), got {sort!r}."})
        data = selectors.destinations(time_range=picker.time_range, filters=picker.filters, sort=sort,
                                      page=_positive_int(query, "page", 1), page_size=DESTINATIONS_PAGE_SIZE)
        pages = max(1, -(-data["count"] // data["page_size"]))
        page = data["page"]
        return {
            "data": data, "sort": sort, "pages": pages, "chart": charts.destinations_chart(data),
            "columns": [{**col, "query": picker.query(sort=col["sort"])} for col in _sort_columns(sort)],
            "rows": [{**row, "search": picker.query(to_domain=row["domain"]),
                      "delivery_percent": _percent(row["delivery_rate"]), "avg": duration_label(row["avg_delivery_ms"]),
                      "p95": duration_label(row["p95_delivery_ms"])} for row in data["results"]],
            "previous_query": picker.query(sort=sort, page=page - 1) if page > 1 else None,
            "next_query": picker.query(sort=sort, page=page + 1) if page < pages else None,
        }

    return _page(request, "destinations", build)


def _sort_columns(sort: str) -> list[dict]:
    """Header cells: clicking sorts by that column, clicking the sorted column flips the order."""
    labels = {"domain": "Domain", "sent": "Sent", "delivered": "Delivered", "bounced": "Bounced",
              "deferred": "Deferred", "rejected": "Rejected", "delivery_rate": "Delivery rate",
              "avg_delivery_ms": "Avg delivery", "p95_delivery_ms": "p95 delivery"}
    columns = []
    for key in selectors.DESTINATION_SORTS:
        current = sort.removeprefix("-") == key
        descending = sort.startswith("-")
        next_sort = (key if descending else f"-{key}") if current else (key if key == "domain" else f"-{key}")
        arrow = ("▼" if descending else "▲") if current else ""
        columns.append({"key": key, "label": labels[key], "sort": next_sort, "arrow": arrow})
    return columns


@login_required
@permission_required(PERM, raise_exception=True)
def search(request: HttpRequest) -> HttpResponse:
    def build(picker: Picker, query: QueryDict) -> dict:
        criteria = parse_criteria(query, types=query.getlist("type"))
        result = selectors_search.events_search(
            time_range=picker.time_range, filters=picker.filters, criteria=criteria,
            cursor=parse_cursor(query.get("cursor")), page_size=SEARCH_PAGE_SIZE,
        )
        kept = {"q": query.get("q", "").strip(), "type": list(criteria.types), "category": criteria.category,
                "code": str(criteria.code or "")}
        return {
            "result": result, "rows": [(event, duration_label(event.delay_ms)) for event in result.events],
            "search": {**kept, "kind": SEARCH_KIND_LABELS.get(result.kind or "", "")},
            "event_types": EventType.choices, "categories": BounceCategory.choices,
            "first_query": picker.query(**kept) if not result.first else None,
            "next_query": picker.query(**kept, cursor=result.next_cursor) if result.has_next else None,
        }

    return _page(request, "search", build)


SEARCH_KIND_LABELS = {"ip": "sending IP", "message_id": "Message-ID", "address": "address (recipient, sender or "
                      "Message-ID)", "domain": "domain (recipient or sender)", "token": "queue id or local part",
                      "text": "text in the response"}


@login_required
@permission_required(PERM, raise_exception=True)
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One event and every event of its message (same Message-ID), oldest first."""
    try:
        moment = parse_moment(request.GET.get("time"), "time") if request.GET.get("time") else None
    except ValidationError as exc:
        return render(request, "events/detail.html", {"errors": error_messages(exc)}, status=400)
    event = selectors_search.event_get(pk=pk, time=moment)
    if event is None:
        raise Http404("No such event.")
    rows = selectors_search.message_events(event)
    return render(request, "events/detail.html", {
        "event": event, "rows": [(row, duration_label(row.delay_ms)) for row in rows],
    })
