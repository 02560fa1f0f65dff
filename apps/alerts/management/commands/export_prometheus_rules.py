"""Write mailmon's alert rules as Prometheus alerting rules over the metrics /metrics exports."""

from __future__ import annotations

import yaml
from django.core.management.base import BaseCommand

from apps.alerts.metrics import EMAIL_METRICS, EMAIL_SENT, NODE_METRICS
from apps.alerts.models import Rule


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds and seconds % 60 == 0 else f"{seconds}s"


def _matchers(rule: Rule) -> str | None:
    """PromQL label matchers for the rule's scope; None when the exported metrics cannot express it."""
    if rule.scope == "fleet":
        return ""
    kind, _, name = rule.scope.partition(":")
    if kind in ("node", "role") and (kind == "node" or rule.source in NODE_METRICS):
        return f'{kind}="{name}"'
    return None


def prometheus_rule(rule: Rule) -> tuple[dict | None, str]:
    """The equivalent Prometheus rule, or None and why not."""
    metric = (NODE_METRICS.get(rule.source) or EMAIL_METRICS.get(rule.source) or (None,))[0]
    if metric is None:
        return None, f"source {rule.source} is not exported as a Prometheus metric"
    if rule.source in EMAIL_METRICS and (rule.group_by not in ("", "node") or rule.window_seconds != 900):
        return None, "email metrics are exported per node over 15 minutes only"
    matchers = _matchers(rule)
    if matchers is None:
        return None, f"scope {rule.scope} has no label on {metric}"
    expr = f"{metric}{{{matchers}}} {rule.condition} {rule.threshold:g}"
    if rule.source in EMAIL_METRICS and rule.min_volume:
        volume = f"{EMAIL_SENT}{{{matchers}}}" if rule.source != "email.volume_drop" else None
        if volume:
            expr = f"({expr}) and on(node) {volume} >= {rule.min_volume}"
    entry = {
        "alert": rule.name,
        "expr": expr,
        "labels": {"severity": rule.severity, **rule.labels},
        "annotations": {"summary": f"{rule.get_source_display()} {rule.condition} {rule.threshold:g}",
                        "description": f"mailmon rule #{rule.pk} ({rule.scope})"},
    }
    if rule.for_seconds:
        entry["for"] = _duration(rule.for_seconds)
    return entry, ""


class Command(BaseCommand):
    help = "Write the enabled alert rules as a Prometheus rule file (stdout, or --output FILE)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--output", "-o", help="File to write (default: stdout).")
        parser.add_argument("--group", default="mailmon", help="Rule group name.")

    def handle(self, *args, output: str | None = None, group: str = "mailmon", **options) -> None:
        rules, skipped = [], []
        for rule in Rule.objects.filter(enabled=True).order_by("name"):
            entry, why = prometheus_rule(rule)
            if entry:
                rules.append(entry)
            else:
                skipped.append(f"# skipped {rule.name!r}: {why}")
        text = "\n".join(skipped + [yaml.safe_dump({"groups": [{"name": group, "rules": rules}]},
                                                   sort_keys=False, allow_unicode=True)])
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(text)
            self.stderr.write(f"{len(rules)} rules written to {output}, {len(skipped)} skipped")
        else:
            self.stdout.write(text)
