from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from .agent_auth import agent_keys_forget
from .audit import audit_record, snapshot
from .models import AgentAPIKey, AuditLog
from .netutil import client_address

# Agents use AgentAPIKey; the package's plain key model would only confuse operators.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


class AuditedModelAdmin(admin.ModelAdmin):
    """A ModelAdmin whose add, change and delete are written to the audit log with before/after."""

    def _audit(self, request, action: str, obj, **fields) -> None:
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{action}",
            obj=obj,
            remote_addr=client_address(request.META),
            **fields,
        )

    def save_model(self, request, obj, form, change):
        before = snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        self._audit(request, "change" if change else "create", obj, before=before, after=snapshot(obj))

    def delete_model(self, request, obj):
        before, pk = snapshot(obj), str(obj.pk)
        super().delete_model(request, obj)
        self._audit(request, "delete", obj, object_id=pk, before=before)

    def delete_queryset(self, request, queryset):
        doomed = [(obj, snapshot(obj), str(obj.pk)) for obj in queryset]
        super().delete_queryset(request, queryset)
        for obj, before, pk in doomed:
            self._audit(request, "delete", obj, object_id=pk, before=before)


@admin.register(AgentAPIKey)
class AgentAPIKeyAdmin(APIKeyModelAdmin):
    list_display = [*APIKeyModelAdmin.list_display, "node", "cidrs", "rate", "last_used_at"]
    list_filter = [*APIKeyModelAdmin.list_filter, "node"]
    search_fields = [*APIKeyModelAdmin.search_fields, "node__hostname"]
    autocomplete_fields = ["node"]
    actions = ["revoke"]

    @admin.display(description="Rate limit")
    def rate(self, obj: AgentAPIKey) -> str:
        return obj.rate_limit or f"{settings.MAILMON_AGENT_RATE_LIMIT} (default)"

    @admin.display(description="Allowed from")
    def cidrs(self, obj: AgentAPIKey) -> str:
        return ", ".join(obj.allowed_cidrs) or "anywhere"

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked=False):
            key.revoked = True
            key.save(update_fields=["revoked"])
            audit_record(actor=request.user, action="api_key.revoke", obj=key)
        agent_keys_forget()  # this process refuses them at once; others within MAILMON_AGENT_KEY_CACHE_SECONDS
        messages.success(request, "Keys revoked.")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(actor=request.user, action="api_key.change" if change else "api_key.create", obj=obj)
        agent_keys_forget()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        agent_keys_forget()

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        agent_keys_forget()


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
