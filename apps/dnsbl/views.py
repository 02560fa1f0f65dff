"""Reputation pages: blacklist overview, one IP's history, zone health, and "check now"."""

from __future__ import annotations

import ipaddress
import re

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from apps.core.netutil import client_address
from apps.ips.models import SendingIP

from . import charts, selectors, services
from .models import DnsblZone

VIEW = "dnsbl.view_dnsblstate"
CHECK = "dnsbl.change_dnsblstate"
PAGE_SIZE = 50


@login_required
@permission_required(VIEW, raise_exception=True)
def index(request):
    zone = request.GET.get("zone") or None
    page = Paginator(selectors.listings(zone=zone), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "zone": zone or "", "zones": DnsblZone.objects.enabled().only("name", "label")}
    if request.htmx:
        return render(request, "dnsbl/partials/_listings.html", context)
    context |= {
        "summary": selectors.overview_summary(),
        "warnings": [services.resolver_warning(z) for z in selectors.resolver_warnings()],
        "charts": [charts.by_zone_chart(selectors.listings_by_zone()), charts.trend_chart(selectors.listing_trend())],
    }
    return render(request, "dnsbl/index.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
def ip_detail(request, address: str):
    ip = _sending_ip(address)
    history = Paginator(selectors.ip_history(ip), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "dnsbl/ip.html", {
        "ip": ip, "states": selectors.ip_states(ip), "history": history,
        "timeline": charts.timeline_chart(selectors.ip_timeline(ip)),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def zones(request):
    return render(request, "dnsbl/zones.html", {"zones": selectors.zone_table(),
                                                "warnings": selectors.resolver_warnings()})


@login_required
@require_POST
@permission_required(CHECK, raise_exception=True)
def check(request):
    """Queue "check now" for the IPs named in the form (``ip``: repeated, or comma/space separated)
    or every IP (``all=1``)."""
    addresses = [a for value in request.POST.getlist("ip") for a in re.split(r"[\s,]+", value) if a]
    try:
        ips = services.ips_to_check(addresses=addresses, every=bool(request.POST.get("all")))
    except ValueError as exc:
        return HttpResponse(format_html('<div class="error" role="alert">ip: {}</div>', exc), status=400)
    run = services.dnsbl_check_request(ips=ips, actor=request.user, remote_addr=client_address(request.META))
    return render(request, "dnsbl/partials/_progress.html", {"run": run})


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _sending_ip(address: str) -> SendingIP:
    if not _is_ip(address):
        raise Http404("not an IP address")
    try:
        return SendingIP.objects.get(address=str(ipaddress.ip_address(address)))
    except SendingIP.DoesNotExist as exc:
        raise Http404("no such sending IP") from exc
