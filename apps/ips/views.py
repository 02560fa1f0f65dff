"""Sending-IP pages: the IP table (filters, sort, pages; htmx partials) and bulk actions.

A normal request gets the whole page; an htmx request (filter form, sort header, pager)
gets ``partials/_table.html``. Bulk actions post twice: first for the confirmation that
states how many IPs change, then (``confirmed=1``) to apply them through the services.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_POST

from apps.core.netutil import client_address
from apps.nodes import attention
from apps.nodes.models import Node
from apps.pools.models import IpPool

from . import selectors, services, services_ptr
from .choices import IpStatus, PtrStatus
from .filters import FILTER_FIELDS, IpFilters, parse_ip_filters
from .models import SendingIP
from .ranges import RangeError

VIEW = "ips.view_sendingip"
CHANGE = "ips.change_sendingip"
PAGE_SIZES = (25, 50, 100, 200)
PTR_CHECK = "check_ptr"
ACTION_LABELS = {"activate": "Activate", "pause": "Pause", "quarantine": "Quarantine", "retire": "Retire",
                 "assign_pool": "Assign to pool", PTR_CHECK: "Check PTR now"}  # fmt: skip


# (label, sort key or None, descending first, numeric)
HEADERS = [
    ("Status", "status", False, False), ("IP", "address", False, False), ("Ver.", None, False, False),
    ("Node", "node", False, False), ("Pool", "pool", False, False), ("Sent 1 h", "sent_1h", True, True),
    ("Sent 24 h", "sent_24h", True, True), ("Bounce %", "bounce_rate", True, True), ("DNSBL", None, False, False),
    ("Warmup day", "warmup_day", False, True), ("Today / limit", "sent_today", True, True),
    ("Reputation", "reputation", False, False), ("PTR", "ptr", False, False), ("Last used", "last_used", True, False),
]  # fmt: skip


def _headers(sort: str) -> list[dict]:
    """Each column's header: clicking the sorted column reverses it, another sorts it its natural way."""
    headers = []
    for label, key, desc_first, num in HEADERS:
        current = sort.removeprefix("-") == key
        reverse = key if sort.startswith("-") else f"-{key}"
        following = reverse if current else (f"-{key}" if desc_first else key)
        arrow = ("▼" if sort.startswith("-") else "▲") if current else ""
        headers.append({"label": label, "key": key, "next": following, "num": num, "arrow": arrow})
    return headers


def _messages(exc: ValidationError) -> list[str]:
    return [m for messages in exc.message_dict.values() for m in messages]


def table_params(query: QueryDict) -> tuple[IpFilters, str, int, int]:
    """Filters, sort, page and page size of the IP table; errors name the field."""
    filters = parse_ip_filters(query)
    sort = query.get("sort") or "address"
    if sort.removeprefix("-") not in selectors.SORTS:
        raise ValidationError({"sort": f"sort: expected one of {', '.join(selectors.SORTS)} (- for descending)."})
    page, size = query.get("page") or "1", query.get("page_size") or "50"
    if not (page.isascii() and page.isdigit() and int(page) >= 1):
        raise ValidationError({"page": "page: expected an integer ≥ 1."})
    if not (size.isascii() and size.isdigit() and int(size) in PAGE_SIZES):
        raise ValidationError({"page_size": f"page_size: expected one of {', '.join(map(str, PAGE_SIZES))}."})
    return filters, sort, int(page), int(size)


@login_required
@permission_required(VIEW, raise_exception=True)
def index(request: HttpRequest) -> HttpResponse:
    context: dict = {"form": {k: request.GET.get(k, "") for k in FILTER_FIELDS},
                     "sort": request.GET.get("sort") or "address", "page_sizes": PAGE_SIZES,
                     "headers": _headers(request.GET.get("sort") or "address")}  # fmt: skip
    status = 200
    try:
        filters, sort, page, size = table_params(request.GET)
        table = selectors.ip_table(filters=filters, sort=sort, page=page, page_size=size)
        last = max(1, -(-table["count"] // size))
        context |= {"table": table, "filters": filters, "last_page": last, "pages": range(1, last + 1)}
    except ValidationError as exc:
        context["errors"], status = _messages(exc), 400
    if request.htmx and not request.htmx.boosted:
        return render(request, "ips/partials/_table.html", context, status=status)
    context |= {"statuses": IpStatus.choices, "ptr_statuses": PtrStatus.choices, "actions": ACTION_LABELS,
                "pools": IpPool.objects.only("id", "name"), "nodes": Node.objects.only("id", "hostname")}  # fmt: skip
    return render(request, "ips/index.html", context, status=status)


def _bulk_selection(post: QueryDict):
    if post.get("all") == "1":
        return selectors.ip_queryset(parse_ip_filters(post))
    ids = post.getlist("ip")
    if not ids:
        raise ValidationError({"ip": "ip: select at least one IP, or all matching the filter."})
    if not all(i.isascii() and i.isdigit() for i in ids):
        raise ValidationError({"ip": "ip: expected IP ids."})
    return SendingIP.objects.filter(pk__in=[int(i) for i in ids])


def _bulk_target(post: QueryDict) -> tuple[str, IpPool | None]:
    action = post.get("action", "")
    if action == PTR_CHECK:
        return action, None
    if action not in services.BULK_ACTIONS:
        raise ValidationError({"action": f"action: expected one of {', '.join(ACTION_LABELS)}."})
    if action != "assign_pool":
        return action, None
    target = post.get("target_pool", "")
    if target == "none":
        return action, None
    pool = IpPool.objects.filter(pk=int(target)).first() if target.isascii() and target.isdigit() else None
    if pool is None:
        raise ValidationError({"target_pool": "target_pool: choose a pool (or none)."})
    return action, pool


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def bulk(request: HttpRequest) -> HttpResponse:
    try:
        action, pool = _bulk_target(request.POST)
        ips = _bulk_selection(request.POST)
    except ValidationError as exc:
        return render(request, "ips/partials/_bulk_error.html", {"errors": _messages(exc)}, status=400)
    context = {"action": action, "label": ACTION_LABELS[action], "pool": pool}
    fields = [(k, v) for k in request.POST for v in request.POST.getlist(k) if k != "csrfmiddlewaretoken"]
    if action == PTR_CHECK:
        return _ptr_check(request, ips, context | {"fields": fields})
    if request.POST.get("confirmed") != "1":
        matched, pending = ips.count(), services.ips_bulk_pending(ips=ips, action=action, pool=pool)
        status = services.BULK_ACTIONS[action]
        context |= {"matched": matched, "pending": pending, "unchanged": matched - pending, "fields": fields,
                    "status_label": IpStatus(status).label if status else ""}  # fmt: skip
        return render(request, "ips/partials/_bulk_confirm.html", context)
    summary = services.ips_bulk_apply(
        ips=ips, action=action, pool=pool, actor=request.user, reason=request.POST.get("reason", "")[:500],
        remote_addr=client_address(request.META),
    )  # fmt: skip
    response = render(request, "ips/partials/_bulk_summary.html", context | {"summary": summary})
    response["HX-Trigger"] = "ips-refresh"
    return response


def _ptr_check(request: HttpRequest, ips, context: dict) -> HttpResponse:
    """Check PTR now: confirm how many IPs, then queue the check (services_ptr)."""
    if request.POST.get("confirmed") != "1":
        matched = ips.count()
        context |= {"matched": matched, "pending": matched, "unchanged": 0}
        return render(request, "ips/partials/_bulk_confirm.html", context)
    queued = services_ptr.ips_ptr_check_request(ips=ips, actor=request.user, remote_addr=client_address(request.META))
    return render(request, "ips/partials/_bulk_summary.html", context | {"queued": queued})


ADD = "ips.add_sendingip"


def _optional_row(model, post: QueryDict, field: str):
    raw = post.get(field, "")
    if not raw:
        return None
    row = model.objects.filter(pk=int(raw)).first() if raw.isascii() and raw.isdigit() else None
    if row is None:
        raise ValidationError({field: f"{field}: no such {field} {raw[:40]!r}."})
    return row


@login_required
@permission_required(ADD, raise_exception=True)
def range_add(request: HttpRequest) -> HttpResponse:
    """Add a CIDR range: Preview (dry run: count, first 10, already known) then Add."""
    context: dict = {"pools": IpPool.objects.only("id", "name"), "nodes": Node.objects.only("id", "hostname")}
    if request.method != "POST":
        return render(request, "ips/range.html", context)
    post = request.POST
    try:
        node, pool = _optional_row(Node, post, "node"), _optional_row(IpPool, post, "pool")
        result = services.ips_add_range(
            cidr=post.get("cidr", ""), node=node, pool=pool, subnet_label=post.get("subnet_label", "")[:64],
            dry_run=post.get("dry_run") != "0", actor=request.user, remote_addr=client_address(request.META),
        )  # fmt: skip
    except (ValidationError, RangeError) as exc:
        errors = _messages(exc) if isinstance(exc, ValidationError) else [str(exc)]
        return render(request, "ips/partials/_bulk_error.html", {"errors": errors}, status=400)
    return render(request, "ips/partials/_range_result.html", {"result": result})


@login_required
@permission_required("events.view_emailevent", raise_exception=True)
def health(request: HttpRequest) -> HttpResponse:
    """Sending IPs ranked by bounce and deferral rate, from the one health notion (apps.nodes.health)."""
    fleet = attention.fleet_health()
    return render(request, "ips/health.html", {"rows": attention.ranked_ips(fleet.ips), "fleet": fleet})
