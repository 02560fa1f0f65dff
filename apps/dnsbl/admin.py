from __future__ import annotations

from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import DnsblChange, DnsblDomain, DnsblState, DnsblZone


@admin.register(DnsblZone)
class DnsblZoneAdmin(AuditedModelAdmin):
    list_display = ["name", "label", "kind", "weight", "may_pause", "enabled", "health", "health_checked_at"]
    list_filter = ["kind", "enabled", "may_pause", "health"]
    search_fields = ["name", "label"]
    readonly_fields = ["health", "health_detail", "health_checked_at", "error_runs", "last_error"]
    fieldsets = [
        (None, {"fields": ["name", "label", "kind", "enabled", "weight", "may_pause", "codes", "max_qps"]}),
        ("Spamhaus Data Query Service", {"fields": ["dqs_zone", "dqs_key"]}),
        ("Canaries (RFC 5782)", {"fields": ["canary_listed", "canary_clean"]}),
        ("Health", {"fields": readonly_fields}),
    ]


@admin.register(DnsblDomain)
class DnsblDomainAdmin(AuditedModelAdmin):
    list_display = ["name", "enabled", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the checker only."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DnsblState)
class DnsblStateAdmin(ReadOnlyAdmin):
    list_display = ["ip", "domain", "zone", "state", "code", "listed_since", "delisted_at", "checked_at"]
    list_filter = ["state", "zone"]
    search_fields = ["ip__address", "domain__name"]
    list_select_related = ["ip", "domain", "zone"]


@admin.register(DnsblChange)
class DnsblChangeAdmin(ReadOnlyAdmin):
    list_display = ["time", "ip", "domain", "zone", "previous", "state", "code"]
    list_filter = ["state", "zone"]
    search_fields = ["ip__address", "domain__name"]
    date_hierarchy = "time"
    list_select_related = ["ip", "domain", "zone"]
