"""The IP warmup page: every warming IP (day X of N, today's sends against its limit, the
"performing well" hint), one IP's curve with its actual sends, and the edit form."""

from __future__ import annotations

import datetime as dt
import ipaddress

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.core.netutil import client_address

from . import charts, selectors
from .models import SendingIP, WarmupSchedule
from .services_warmup import UNSET, ip_warmup_set
from .views import CHANGE, VIEW

PAGE_SIZE = 100


def _sent_by_sending_day(ip: SendingIP, today: dt.date) -> dict[int, int]:
    """Actual sends numbered by sending day (days with attempts since the warmup started)."""
    if not ip.warmup_started_on:
        return {}
    daily = selectors.ip_daily_sent(address=ip.address, since=ip.warmup_started_on, until=today)
    return {n: daily[day] for n, day in enumerate(sorted(d for d in daily if daily[d]), start=1)}


def _selected(address: str, today: dt.date) -> dict:
    ip = SendingIP.objects.select_related("warmup_schedule").filter(address=address).first()
    if ip is None:
        return {"selected_missing": address}
    schedule = ip.warmup_schedule
    chart = charts.warmup_chart(limits=schedule.limits if schedule else [], current_day=ip.warmup_day,
                                sent_by_day=_sent_by_sending_day(ip, today))  # fmt: skip
    return {"selected": ip, "chart": chart}


@login_required
@permission_required(VIEW, raise_exception=True)
def warmup(request: HttpRequest) -> HttpResponse:
    today = timezone.now().date()
    rows = SendingIP.objects.filter(warmup_schedule__isnull=False).select_related("warmup_schedule", "node", "pool")
    page = Paginator(rows.order_by("address"), PAGE_SIZE).get_page(request.GET.get("page"))
    addresses = [ip.address for ip in page.object_list]
    sent = selectors.sent_today_by_ip(day=today)
    well = selectors.warmup_performing_well(
        addresses=addresses, today=today, good_rate=settings.MAILMON_WARMUP_GOOD_BOUNCE_RATE
    )
    for ip in page.object_list:
        ip.sent_today = sent.get(ip.address, 0)
        ip.performing_well = ip.address in well
    schedules = list(WarmupSchedule.objects.all())
    context = {"page": page, "schedules": schedules, "suggested": {s.name: s.limits for s in schedules}}
    if request.GET.get("ip"):
        context |= _selected(request.GET["ip"].strip(), today)
    return render(request, "ips/warmup.html", context)


@login_required
@require_POST
@permission_required(CHANGE, raise_exception=True)
def warmup_set(request: HttpRequest) -> HttpResponse:
    """Start, move or end one IP's warmup from the page's form."""
    post = request.POST
    address = post.get("address", "").strip()
    back = reverse("ips-warmup")
    try:
        normal = str(ipaddress.ip_address(address))
        ip = SendingIP.objects.get(address=normal)
        schedule = WarmupSchedule.objects.get(name=post["schedule"]) if post.get("schedule") else None
        day = int(post.get("day") or 1)
        limit = int(post["daily_limit"]) if post.get("daily_limit") else UNSET
        ip_warmup_set(ip=ip, schedule=schedule, day=day, daily_limit=limit, actor=request.user,
                      reason=post.get("reason", "")[:500], remote_addr=client_address(request.META))  # fmt: skip
    except (ValueError, SendingIP.DoesNotExist, WarmupSchedule.DoesNotExist, ValidationError) as exc:
        detail = "; ".join(m for ms in exc.message_dict.values() for m in ms) if isinstance(exc, ValidationError) \
            else f"address/schedule/day: {exc}"  # fmt: skip
        messages.error(request, f"Warmup not changed: {detail}")
        return redirect(f"{back}?ip={address}")
    messages.success(request, f"{normal}: warmup {'on ' + schedule.name + f' day {day}' if schedule else 'ended'}.")
    return redirect(f"{back}?ip={normal}")
