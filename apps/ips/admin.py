from __future__ import annotations

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin
from apps.core.audit import audit_record, snapshot
from apps.core.netutil import client_address

from .choices import IpStatus
from .models import SendingIP


@admin.register(SendingIP)
class SendingIPAdmin(AuditedModelAdmin):
    list_display = [
        "address", "node", "pool", "status", "ptr", "warmup_day", "daily_limit", "reputation_score", "last_used_at"
    ]
    list_filter = ["status", "pool", "node"]
    search_fields = ["address", "ptr", "node__hostname"]
    list_select_related = ["node", "pool"]
    autocomplete_fields = ["node"]
    actions = ["activate", "pause", "quarantine"]

    def _set_status(self, request, queryset, status: str) -> None:
        for ip in queryset:
            before = snapshot(ip, ["status"])
            ip.status = status
            ip.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=request.user, action=f"ip.{status}", obj=ip, before=before, after={"status": status},
                remote_addr=client_address(request.META),
            )

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, IpStatus.ACTIVE)

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, IpStatus.PAUSED)

    @admin.action(description="Quarantine", permissions=["change"])
    def quarantine(self, request, queryset):
        self._set_status(request, queryset, IpStatus.QUARANTINED)
