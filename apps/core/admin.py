from __future__ import annotations

from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin

from .audit import audit_record
from .models import AgentAPIKey, AuditLog


@admin.register(AgentAPIKey)
class AgentAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "node", "cidrs", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "node"]
    search_fields = [*APIKeyModelAdmin.search_fields, "node__hostname"]
    autocomplete_fields = ["node"]
    actions = ["revoke"]

    @admin.display(description="Allowed from")
    def cidrs(self, obj: AgentAPIKey) -> str:
        return ", ".join(obj.allowed_cidrs) or "anywhere"

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked=False):
            key.revoked = True
            key.save(update_fields=["revoked"])
            audit_record(actor=request.user, action="api_key.revoke", obj=key)
        messages.success(request, "Keys revoked.")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(actor=request.user, action="api_key.change" if change else "api_key.create", obj=obj)


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["time", "actor_label", "action", "object_type", "object_repr", "remote_addr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id", "reason"]
    date_hierarchy = "time"
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
