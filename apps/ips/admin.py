from __future__ import annotations

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin
from apps.core.netutil import client_address

from . import services, services_ptr
from .choices import IpStatus
from .models import SendingIP, WarmupSchedule
from .mta_version import mta_changed


@admin.register(WarmupSchedule)
class WarmupScheduleAdmin(AuditedModelAdmin):
    """Warmup curves: the daily limit of each sending day (comma-separated)."""

    list_display = ["name", "days", "is_default", "description"]
    search_fields = ["name"]


@admin.register(SendingIP)
class SendingIPAdmin(AuditedModelAdmin):
    list_display = [
        "address", "node", "pool", "weight", "status", "ptr", "ptr_status", "ptr_checked_at", "warmup_day",
        "daily_limit", "reputation_score", "last_used_at",
    ]
    list_filter = ["status", "ptr_status", "pool", "node"]
    search_fields = ["address", "ptr", "node__hostname"]
    list_select_related = ["node", "pool"]
    autocomplete_fields = ["node"]
    actions = ["activate", "pause", "quarantine", "retire", "check_ptr"]
    readonly_fields = ["ptr_status", "ptr_detail", "ptr_checked_at"]

    # Edits and deletes here change what the MTAs obey: move the version their answer is cached under.
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        mta_changed()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        mta_changed()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        mta_changed()

    def _set_status(self, request, queryset, status: str) -> None:
        changed = services.ips_set_status(
            ips=queryset, status=status, actor=request.user, reason="admin action",
            remote_addr=client_address(request.META),
        )
        self.message_user(request, f"{changed} IP(s) set to {status}.")

    @admin.action(description="Activate", permissions=["change"])
    def activate(self, request, queryset):
        self._set_status(request, queryset, IpStatus.ACTIVE)

    @admin.action(description="Pause", permissions=["change"])
    def pause(self, request, queryset):
        self._set_status(request, queryset, IpStatus.PAUSED)

    @admin.action(description="Quarantine", permissions=["change"])
    def quarantine(self, request, queryset):
        self._set_status(request, queryset, IpStatus.QUARANTINED)

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request, queryset):
        self._set_status(request, queryset, IpStatus.RETIRED)

    @admin.action(description="Check PTR now", permissions=["change"])
    def check_ptr(self, request, queryset):
        queued = services_ptr.ips_ptr_check_request(ips=queryset, actor=request.user,
                                                    remote_addr=client_address(request.META))
        self.message_user(request, f"PTR check of {queued['queued']} IP(s) queued; the PTR columns show the outcome.")
