from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from apps.core.admin import AuditedModelAdmin

from . import services
from .models import Alert, Channel, Notification, NotificationAttempt, Rule, Silence


@admin.register(Rule)
class RuleAdmin(AuditedModelAdmin):
    list_display = ["name", "source", "condition", "threshold", "for_seconds", "severity", "scope", "enabled"]
    list_filter = ["enabled", "severity", "source"]
    search_fields = ["name", "scope"]
    filter_horizontal = ["channels"]


class ChannelForm(forms.ModelForm):
    url = forms.URLField(max_length=500, required=False, assume_scheme="https",
                         help_text="Webhook / Slack URL; Telegram API base URL.")
    secret = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored secret.",
    )

    class Meta:
        model = Channel
        fields = ["name", "kind", "url", "to", "secret", "enabled", "alertmanager"]

    def clean_secret(self) -> str:
        return self.cleaned_data["secret"] or (self.instance.secret if self.instance.pk else "")


@admin.register(Channel)
class ChannelAdmin(AuditedModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "enabled", "failing_since", "last_error"]
    list_filter = ["kind", "enabled"]
    readonly_fields = ["failing_since", "last_error"]
    actions = ["send_test"]

    def _audit(self, request, action: str, obj, **fields) -> None:
        for side in ("before", "after"):  # the secret never reaches the audit log
            if fields.get(side):
                fields[side] = {**fields[side], "secret": "********" if fields[side].get("secret") else ""}
        super()._audit(request, action, obj, **fields)

    @admin.action(description="Send a test notification", permissions=["change"])
    def send_test(self, request, queryset):
        for channel in queryset:
            services.channel_test(channel=channel, actor=request.user)
        messages.success(request, f"Queued {queryset.count()} test notification(s).")


@admin.register(Alert)
class AlertAdmin(AuditedModelAdmin):
    list_display = ["rule", "subject", "status", "severity", "value", "fired_at", "resolved_at", "acknowledged_at"]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["subject", "rule__name"]
    readonly_fields = [f.name for f in Alert._meta.fields if f.name not in ("ack_comment",)]
    actions = ["acknowledge"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Acknowledge", permissions=["change"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            services.alert_ack(alert=alert, actor=request.user)


@admin.register(Silence)
class SilenceAdmin(AuditedModelAdmin):
    list_display = ["__str__", "starts_at", "ends_at", "author", "comment"]
    readonly_fields = ["author"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


class AttemptInline(admin.TabularInline):
    model = NotificationAttempt
    extra = 0
    can_delete = False
    readonly_fields = ["number", "at", "ok", "detail"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "channel", "rule", "status", "attempts", "last_error"]
    list_filter = ["status", "kind", "channel"]
    readonly_fields = ["channel", "rule", "kind", "alerts", "payload", "status", "attempts", "last_error", "sent_at"]
    inlines = [AttemptInline]

    def has_add_permission(self, request) -> bool:
        return False
