"""The pools page: each pool's type, description, IP counts and 24-hour figures; one pool's members
with their weights (editable by operators, through apps.ips.services.ip_update)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.core.netutil import client_address
from apps.ips.models import SendingIP
from apps.ips.services import ip_update

from . import selectors
from .models import IpPool


@login_required
@permission_required("pools.view_ippool", raise_exception=True)
def index(request):
    return render(request, "pools/index.html", {"pools": selectors.pool_overview()})


@login_required
@permission_required("pools.view_ippool", raise_exception=True)
def detail(request, pk: int):
    pool = get_object_or_404(selectors.pools_counted(), pk=pk)
    return render(request, "pools/detail.html", {"pool": pool, "members": selectors.pool_members(pool)})


@login_required
@require_POST
@permission_required("ips.change_sendingip", raise_exception=True)
def weight(request, pk: int):
    pool = get_object_or_404(IpPool, pk=pk)
    ip_id = request.POST.get("ip", "")
    ip = get_object_or_404(SendingIP, pk=int(ip_id) if ip_id.isascii() and ip_id.isdigit() else 0, pool=pool)
    raw = request.POST.get("weight", "")
    try:
        ip_update(ip=ip, weight=int(raw), actor=request.user, reason="pool page",
                  remote_addr=client_address(request.META))  # fmt: skip
        messages.success(request, f"{ip.address}: weight {ip.weight}.")
    except (ValueError, ValidationError):
        messages.error(request, f"weight: expected an integer from 1 to 1000, got {raw[:20]!r}.")
    return redirect("pools-detail", pk=pool.pk)
