"""One node's page (``/nodes/<hostname>/``): tabs over the shared time-range picker.

The tab and the picker state live in the query string (``?tab=services&range=7d``), so a
link or a reload shows the same view; tab links and the picker are htmx requests that get
``partials/_detail.html`` (the picker, the tab bar and the tab). Bad picker values or a tab
the node does not have answer 400 naming the field.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render

from apps.events import charts as event_charts
from apps.events.range_picker import Picker, error_messages, picker_from_query
from apps.events.time_range import RANGE_CHOICES

from . import charts, selectors, selectors_mta
from .models import Node

TABS = {"performance": "Performance", "services": "Services", "ips": "IPs", "destinations": "Destinations"}
MTA_TABS = ("ips", "destinations")
DESTINATIONS_SHOWN = 50
IPS_SHOWN = 200  # the rest: the IP table filtered by the node

TabBuilder = Callable[[Node, Picker], dict]


def _tabs(node: Node) -> list[str]:
    return [tab for tab in TABS if selectors.node_is_mta(node) or tab not in MTA_TABS]


def _range_query(query: QueryDict) -> QueryDict:
    """Only the range: a node page has no event filters (its node is the filter)."""
    kept = QueryDict(mutable=True)
    for name in ("range", "from", "to"):
        if name in query:
            kept[name] = query[name]
    return kept


def _percent(rate: float | None) -> float | None:
    return None if rate is None else 100 * rate


def performance(node: Node, picker: Picker) -> dict:
    metrics = selectors.node_metrics(node=node, time_range=picker.time_range)
    mail = selectors_mta.node_performance(node=node, time_range=picker.time_range)
    context: dict = {
        "metrics": metrics, "perf": mail, "stats": mail["totals"],
        "charts": [charts.resources_chart(metrics), charts.disks_chart(metrics), charts.network_chart(metrics),
                   charts.load_chart(metrics), charts.queue_chart(metrics)],
        "mail": selectors.node_is_mta(node) or mail["totals"]["sent"] > 0,
    }  # fmt: skip
    if context["mail"]:
        context |= {
            "bounce_percent": _percent(mail["rates"]["bounce"]),
            "deferral_percent": _percent(mail["rates"]["deferral"]), "p95_ms": mail["delivery_time_ms"]["p95"],
            "mail_charts": [event_charts.throughput_chart(mail["throughput"]), charts.rates_chart(mail),
                            event_charts.delivery_time_chart(mail["delivery_time"])],
        }  # fmt: skip
    return context


def services(node: Node, picker: Picker) -> dict:
    metrics = selectors.node_metrics(node=node, time_range=picker.time_range)
    latest = selectors.node_latest_metric(node=node)
    uptime = selectors.node_service_uptime(node=node, time_range=picker.time_range)
    now = (latest.services if latest else None) or {}
    names = sorted(set(uptime) | set(now))
    return {
        "latest": latest,
        "chart": charts.services_chart(metrics),
        "service_rows": [{"name": name, "up_now": now.get(name), "uptime": uptime.get(name),
                          "uptime_percent": _percent(uptime[name]["share"]) if name in uptime else None}
                         for name in names],
    }


def ips(node: Node, picker: Picker) -> dict:
    data = selectors_mta.node_ips(node=node, page=1, page_size=IPS_SHOWN)
    return {"ips": data["results"], "ip_count": data["count"]}


def destinations(node: Node, picker: Picker) -> dict:
    data = selectors_mta.node_destinations(node=node, time_range=picker.time_range, page_size=DESTINATIONS_SHOWN)
    return {
        "data": data, "chart": event_charts.destinations_chart(data),
        "rows": [{**row, "delivery_percent": _percent(row["delivery_rate"]),
                  "search": picker.query(node=node.pk, to_domain=row["domain"])} for row in data["results"]],
    }


BUILDERS: dict[str, TabBuilder] = {"performance": performance, "services": services, "ips": ips,
                                   "destinations": destinations}


@login_required
@permission_required("nodes.view_node", raise_exception=True)
def node_detail(request: HttpRequest, hostname: str) -> HttpResponse:
    node = get_object_or_404(Node, hostname=hostname)
    tab, tabs = request.GET.get("tab", "").strip() or "performance", _tabs(node)
    context: dict = {"node": node, "tab": tab, "ranges": RANGE_CHOICES, "range_only": True, "picker": None,
                     "extra_fields": "nodes/partials/_tab_field.html"}
    status = 200
    try:
        if tab not in tabs:
            raise ValidationError({"tab": f"tab: expected one of {', '.join(tabs)}, got {tab[:40]!r}."})
        context["picker"] = picker = picker_from_query(_range_query(request.GET))
        context |= BUILDERS[tab](node, picker)
    except ValidationError as exc:
        context["errors"] = error_messages(exc)
        status = 400
    picker = context["picker"]
    context["form"] = {"range": picker.range, "from": picker.from_input, "to": picker.to_input} if picker else \
        {name: request.GET.get(name, "").strip() for name in ("range", "from", "to")}
    context["tab_links"] = [{"key": key, "label": TABS[key], "active": key == tab,
                             "query": picker.query(tab=key) if picker else f"tab={key}"} for key in tabs]
    template = "nodes/partials/_detail.html" if request.htmx else "nodes/detail.html"
    return render(request, template, context, status=status)
