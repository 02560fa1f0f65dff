"""Fleet pages: the overview leads with what needs attention, then mail flow, queues and the node cards."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone

from apps.events import selectors_rates

from . import attention
from .choices import NodeRole, NodeStatus
from .health import LABELS, milliseconds, number, optional_percent
from .models import Node

CARDS_PER_PAGE = 200
# Health first (what colours the cards), then the agent-reported statuses health does not name.
STATUS_CHOICES = [*LABELS.items(), *((s, label) for s, label in NodeStatus.choices if s not in LABELS)]


def _filter_errors(role: str, status: str) -> list[str]:
    errors = []
    if role and role not in NodeRole.values:
        errors.append(f"role: unknown role {role!r}.")
    if status and status not in dict(STATUS_CHOICES):
        errors.append(f"status: unknown status {status!r}.")
    return errors


def _matches(card: attention.NodeCard, role: str, status: str, search: str) -> bool:
    return ((not role or card.node.role == role) and (not status or status in (card.health.status, card.node.status))
            and (not search or search.lower() in card.node.hostname.lower()))  # fmt: skip


def _flow_rows(flow: dict) -> list[dict]:
    """The last hour against the same hour last week, as words."""
    now, week = flow["now"], flow["week_ago"]
    rows = [{"label": "Sent", "now": number(now["sent"]), "week_ago": number(week["sent"]), "key": "sent"}]
    for key in ("delivered", "deferred", "bounced"):
        rows.append({"label": f"{key.title()} %", "key": key, "now": optional_percent(now[f"{key}_rate"]),
                     "week_ago": optional_percent(week[f"{key}_rate"])})  # fmt: skip
    p95 = (now["delivery_time_ms"]["p95"], week["delivery_time_ms"]["p95"])
    rows.append({"label": "p95 delivery time", "key": "p95", "now": milliseconds(p95[0]),
                 "week_ago": milliseconds(p95[1])})  # fmt: skip
    return rows


@login_required
@permission_required("nodes.view_node", raise_exception=True)
def overview(request):
    filters = {name: (request.GET.get(name) or "").strip() for name in ("role", "status", "q")}
    errors = _filter_errors(filters["role"], filters["status"])
    now = timezone.now()
    fleet = attention.fleet_health(now=now)
    cards = [] if errors else [c for c in fleet.cards if _matches(c, filters["role"], filters["status"], filters["q"])]
    cards.sort(key=lambda c: (-c.health.rank, c.node.hostname))
    context = {
        "fleet": fleet,
        "items": fleet.attention,
        "flow": _flow_rows(selectors_rates.flow_summary(now=now)),
        "page": Paginator(cards, CARDS_PER_PAGE).get_page(request.GET.get("page")),
        "pending_approval": Node.objects.pending_approval().count(),
        "roles": NodeRole.choices,
        "statuses": STATUS_CHOICES,
        "filters": filters,
        "errors": errors,
    }
    template = "nodes/partials/_overview_live.html" if request.htmx else "nodes/overview.html"
    return render(request, template, context, status=400 if errors else 200)
