from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .models import BounceRule, EmailEvent


@admin.register(EmailEvent)
class EmailEventAdmin(admin.ModelAdmin):
    list_display = ["time", "type", "node", "sending_ip", "recipient", "status_code", "bounce_category", "delay_ms"]
    list_filter = ["type", "bounce_category"]
    search_fields = ["=event_id", "=message_id", "=recipient", "=recipient_domain"]
    date_hierarchy = "time"
    list_select_related = ["node"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(BounceRule)
class BounceRuleAdmin(AuditedModelAdmin):
    list_display = ["priority", "name", "category", "status_code", "enhanced_status", "response", "enabled"]
    list_display_links = ["name"]
    list_editable = ["priority", "enabled"]
    list_filter = ["category", "enabled"]
    search_fields = ["name", "response"]
