"""Alerts pages: active alerts (live), history, rules (+ preview), channels (+ test), silences."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from . import selectors, services
from .choices import AlertStatus, Severity
from .forms import ChannelForm, RuleForm, SilenceForm
from .models import Alert, Channel, Rule, Silence

PAGE_SIZE = 50


@login_required
@permission_required("alerts.view_alert", raise_exception=True)
def index(request):
    context = {"alerts": selectors.alert_list().filter(status__in=[AlertStatus.FIRING, AlertStatus.PENDING]),
               "counts": selectors.firing_counts()}
    if request.htmx:
        return render(request, "alerts/partials/_active.html", context)
    return render(request, "alerts/index.html", context)


@login_required
@permission_required("alerts.view_alert", raise_exception=True)
def history(request):
    filters = {k: request.GET.get(k) or None for k in ("state", "severity", "subject")}
    if filters["state"] not in (*AlertStatus.values, None) or filters["severity"] not in (*Severity.values, None):
        filters["state"] = filters["severity"] = None
    page = Paginator(selectors.alert_list(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "alerts/history.html", {
        "page": page, "filters": filters, "states": AlertStatus.choices, "severities": Severity.choices,
        "notifications": selectors.recent_notifications(20)})


@login_required
@require_POST
@permission_required("alerts.change_alert", raise_exception=True)
def ack(request, pk: int):
    alert = get_object_or_404(Alert, pk=pk)
    services.alert_ack(alert=alert, actor=request.user, comment=request.POST.get("comment", ""))
    return index(request) if request.htmx else redirect("alerts-index")


@login_required
@require_POST
@permission_required("alerts.add_silence", raise_exception=True)
def silence_alert(request, pk: int):
    """One click: silence this rule on this subject for ``hours`` (default 2)."""
    alert = get_object_or_404(Alert.objects.select_related("rule"), pk=pk)
    hours = float(request.POST.get("hours") or 2)
    services.silence_create(actor=request.user, matchers={"rule": alert.rule.name, "subject": alert.subject},
                            ends_at=timezone.now() + dt.timedelta(hours=min(max(hours, 0.05), 24 * 90)),
                            comment=request.POST.get("comment") or f"Silenced from the alerts page by {request.user}")
    return index(request) if request.htmx else redirect("alerts-index")


@login_required
@permission_required("alerts.view_rule", raise_exception=True)
def rules(request, pk: int | None = None):
    rule = get_object_or_404(Rule, pk=pk) if pk else None
    form = RuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and request.user.has_perm("alerts.change_rule") and form.is_valid():
        data = dict(form.cleaned_data)
        channels = list(data.pop("channels"))
        try:
            saved = services.rule_save(rule=rule, actor=request.user, channels=channels, **data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Rule {saved.name!r} saved.")
            return redirect("alerts-rules")
    return render(request, "alerts/rules.html", {"rules": selectors.rule_list(), "form": form, "rule": rule})


@login_required
@require_POST
@permission_required("alerts.view_rule", raise_exception=True)
def rule_preview(request, pk: int):
    preview = services.rule_preview(rule=get_object_or_404(Rule, pk=pk))
    return render(request, "alerts/partials/_preview.html", {"preview": preview})


@login_required
@permission_required("alerts.view_channel", raise_exception=True)
def channels(request):
    form = ChannelForm(request.POST or None)
    if request.method == "POST" and request.user.has_perm("alerts.add_channel") and form.is_valid():
        data = dict(form.cleaned_data)
        channel = services.channel_save(actor=request.user, secret=data.pop("secret") or "", **data)
        messages.success(request, f"Channel {channel.name!r} saved.")
        return redirect("alerts-channels")
    return render(request, "alerts/channels.html", {"channels": selectors.channel_list(), "form": form})


@login_required
@require_POST
@permission_required("alerts.change_channel", raise_exception=True)
def channel_test(request, pk: int):
    notification = services.channel_test(channel=get_object_or_404(Channel, pk=pk), actor=request.user)
    message = f"Test notification #{notification.pk} queued; its attempts show in the history."
    if request.htmx:
        return render(request, "alerts/partials/_message.html", {"message": message})
    messages.success(request, message)
    return redirect("alerts-channels")


@login_required
@permission_required("alerts.view_silence", raise_exception=True)
def silences(request):
    form = SilenceForm(request.POST or None)
    if request.method == "POST" and request.user.has_perm("alerts.add_silence") and form.is_valid():
        data = form.cleaned_data
        services.silence_create(actor=request.user, matchers=data["matchers"], comment=data["comment"],
                                ends_at=timezone.now() + dt.timedelta(hours=data["hours"]))
        messages.success(request, "Silence created.")
        return redirect("alerts-silences")
    return render(request, "alerts/silences.html", {"silences": selectors.silence_list(), "form": form,
                                                    "now": timezone.now()})


@login_required
@require_POST
@permission_required("alerts.change_silence", raise_exception=True)
def silence_expire(request, pk: int):
    services.silence_expire(silence=get_object_or_404(Silence, pk=pk), actor=request.user)
    return redirect("alerts-silences")
