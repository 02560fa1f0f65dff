"""Warmup pages: overview, one mailbox, CSV import."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods

from . import charts, selectors, services
from .managers import sees_all_mailboxes
from .models import WarmupMailbox
from .services import CSV_COLUMNS

VIEW = "warmup.view_warmupmailbox"


@login_required
@permission_required(VIEW, raise_exception=True)
def overview(request):
    rows = selectors.quota_rows(user=request.user)
    metrics = selectors.metrics(user=request.user, rows=rows)
    context = {
        "metrics": metrics,
        "completion_percent": round(metrics["warmup_quota_completion_rate"] * 100, 1),
        "behind": [r for r in rows if r["behind"]][:50],
        "page": Paginator(rows, 100).get_page(request.GET.get("page")),
        "chart": charts.throughput_chart(selectors.throughput_series(user=request.user)),
        "placement": selectors.placement_by_provider(user=request.user),
        "engine": selectors.engine_status() if sees_all_mailboxes(request.user) else None,
        "health_label": {0: "critical", 1: "degraded", 2: "healthy"}[metrics["warmup_system_health"]],
    }
    return render(request, "warmup/overview.html", context)


@login_required
@permission_required(VIEW, raise_exception=True)
def mailbox_detail(request, pk: int):
    mailbox = get_object_or_404(WarmupMailbox.objects.for_user(request.user).select_related("owner"), pk=pk)
    history = selectors.mailbox_history(mailbox=mailbox)
    context = {
        "mailbox": mailbox,
        "today": selectors.quota_rows(user=request.user, mailbox_ids=[mailbox.pk])[0],
        "chart": charts.daily_chart(history),
        "placement": [row for row in history if row["inbox"] or row["spam"]],
        "errors": selectors.last_errors(mailbox=mailbox),
        "sends": selectors.recent_sends(mailbox=mailbox),
    }
    return render(request, "warmup/mailbox.html", context)


@login_required
@permission_required("warmup.add_warmupmailbox", raise_exception=True)
@require_http_methods(["GET", "POST"])
def mailbox_import(request):
    context: dict = {"columns": CSV_COLUMNS, "report": None}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            context["error"] = "Choose a CSV file to import."
        else:
            try:
                text = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                context["error"] = "The file is not UTF-8 text."
            else:
                dry_run = bool(request.POST.get("dry_run"))
                context["report"] = services.mailboxes_import(owner=request.user, actor=request.user, text=text,
                                                              dry_run=dry_run)
                context["dry_run"] = dry_run
    status = 400 if context.get("error") or (context["report"] and not context["report"].created) else 200
    return render(request, "warmup/import.html", context, status=status)
