"""Sending IPs ranked by bounce and deferral rate (until the IP module's own page replaces it)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from apps.nodes import attention


@login_required
@permission_required("events.view_emailevent", raise_exception=True)
def health(request):
    fleet = attention.fleet_health()
    return render(request, "ips/health.html", {"rows": attention.ranked_ips(fleet.ips), "fleet": fleet})
