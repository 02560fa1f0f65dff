from __future__ import annotations

from django import forms
from django.contrib import admin

from apps.core.admin import AuditedModelAdmin

from .choices import MailboxStatus
from .models import WarmupDay, WarmupMailbox
from .services import EDITABLE, mailbox_set_status


class WarmupMailboxForm(forms.ModelForm):
    """Passwords are write-only: never rendered back; left empty, the stored one is kept."""

    password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, strip=False,
                               help_text="Leave empty to keep the stored password.")
    imap_password = forms.CharField(widget=forms.PasswordInput(render_value=False), required=False, strip=False,
                                    help_text="Leave empty to keep the stored password.")

    class Meta:
        model = WarmupMailbox
        fields = ["owner", *EDITABLE, "started_on", "status", "status_reason"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("password", "imap_password"):
            self.initial[name] = ""  # the form never carries a stored secret to the browser

    def clean(self):
        data = super().clean()
        for name in ("password", "imap_password"):
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(type(self.instance).objects.get(pk=self.instance.pk), name)
        return data


@admin.register(WarmupMailbox)
class WarmupMailboxAdmin(AuditedModelAdmin):
    form = WarmupMailboxForm
    list_display = ["address", "owner", "provider", "status", "enabled", "daily_target", "last_error_at"]
    list_filter = ["status", "enabled", "provider", "smtp_security"]
    search_fields = ["address", "owner__username", "smtp_host"]
    readonly_fields = ["provider", "last_error", "last_error_at", "imap_error", "imap_checked_at", "created_at",
                       "updated_at"]
    raw_id_fields = ["owner", "sending_ip"]
    actions = ["pause", "resume"]

    def get_queryset(self, request):
        return super().get_queryset(request).for_user(request.user)

    @admin.action(description="Pause warmup", permissions=["change"])
    def pause(self, request, queryset):
        for mailbox in queryset:
            mailbox_set_status(mailbox=mailbox, status=MailboxStatus.PAUSED, reason="paused by an operator",
                               actor=request.user)

    @admin.action(description="Resume warmup", permissions=["change"])
    def resume(self, request, queryset):
        for mailbox in queryset:
            mailbox_set_status(mailbox=mailbox, status=MailboxStatus.ACTIVE, actor=request.user)


@admin.register(WarmupDay)
class WarmupDayAdmin(admin.ModelAdmin):
    list_display = ["day", "mailbox", "target", "planned", "sent", "failed", "inbox", "spam"]
    list_filter = ["day"]
    search_fields = ["mailbox__address"]
    list_select_related = ["mailbox"]
    raw_id_fields = ["mailbox"]
