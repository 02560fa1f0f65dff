"""The default rule set (issue 12); operators may edit or disable any of them."""

from django.db import migrations

# name, source, condition, threshold, for_seconds, severity, extra
DEFAULT_RULES = [
    ("Service down", "node.service_down", ">", 0, 120, "critical", {}),
    ("Queue above 1,000", "node.queue", ">", 1000, 300, "warning", {"hysteresis": 100}),
    ("CPU above 80 %", "node.cpu", ">", 80, 300, "warning", {"hysteresis": 5}),
    ("Memory available below 20 %", "node.memory_available", "<", 20, 300, "warning", {"hysteresis": 2}),
    ("Disk free below 20 %", "node.disk_free", "<", 20, 300, "warning", {"hysteresis": 1}),
    ("API p95 above 1 s", "portal.api_p95", ">", 1, 300, "warning", {}),
    ("Bounce rate above 5 %", "email.bounce_rate", ">", 5, 0, "warning",
     {"window_seconds": 900, "min_volume": 200, "group_by": "ip", "hysteresis": 0.5}),
    ("IP listed on a pause-worthy zone", "dnsbl.listed", ">", 0, 0, "critical", {}),
    ("Node offline", "node.offline", ">", 0, 0, "critical", {}),
    ("Notification channel failing", "alerts.channel_failed", ">", 0, 0, "warning", {}),
]


def install(apps, schema_editor):
    Rule = apps.get_model("alerts", "Rule")
    for name, source, condition, threshold, for_seconds, severity, extra in DEFAULT_RULES:
        Rule.objects.get_or_create(name=name, defaults={
            "source": source, "condition": condition, "threshold": threshold, "for_seconds": for_seconds,
            "severity": severity, "scope": "fleet", **extra,
        })


def remove(apps, schema_editor):
    apps.get_model("alerts", "Rule").objects.filter(name__in=[r[0] for r in DEFAULT_RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("alerts", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
