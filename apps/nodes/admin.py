from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from apps.core.admin import AuditedModelAdmin
from apps.core.netutil import client_address

from .models import HealthThresholds, Node, NodeMetric
from .services import node_maintenance_set, nodes_approve


@admin.register(Node)
class NodeAdmin(AuditedModelAdmin):
    list_display = [
        "hostname", "page", "role", "address", "subnet_label", "status", "approved", "last_seen", "registered_by",
    ]
    list_filter = ["approved", "role", "status", "subnet_label"]
    search_fields = ["hostname", "address", "subnet_label"]
    readonly_fields = ["last_seen", "created_at", "updated_at", "registered_by"]
    actions = ["approve", "start_maintenance", "end_maintenance"]

    @admin.display(description="Node page")
    def page(self, node: Node) -> str:
        return format_html('<a href="{}">open</a>', node.get_absolute_url())

    @admin.action(description="Approve selected nodes (show them in the fleet)", permissions=["change"])
    def approve(self, request, queryset):
        count = nodes_approve(nodes=queryset, actor=request.user, remote_addr=client_address(request.META))
        self.message_user(request, f"{count} node{'s' if count != 1 else ''} approved.")

    def _set_maintenance(self, request, queryset, on: bool) -> None:
        for node in queryset:
            node_maintenance_set(node=node, on=on, actor=request.user, remote_addr=client_address(request.META))

    @admin.action(description="Put into maintenance", permissions=["change"])
    def start_maintenance(self, request, queryset):
        self._set_maintenance(request, queryset, True)

    @admin.action(description="End maintenance", permissions=["change"])
    def end_maintenance(self, request, queryset):
        self._set_maintenance(request, queryset, False)


@admin.register(NodeMetric)
class NodeMetricAdmin(admin.ModelAdmin):
    list_display = ["time", "node", "cpu_percent", "memory_percent", "load1", "queue_size"]
    list_filter = ["node"]
    date_hierarchy = "time"
    list_select_related = ["node"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(HealthThresholds)
class HealthThresholdsAdmin(AuditedModelAdmin):
    """One row; an empty field keeps the MAILMON_HEALTH_* setting (docs/operations.md)."""

    list_display = ["__str__", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return super().has_add_permission(request) and not HealthThresholds.objects.exists()
