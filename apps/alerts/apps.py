from __future__ import annotations

from django.apps import AppConfig

# DNSBL notices that change what dnsbl.listed reports: evaluate at once instead of within 30 s.
_REEVALUATE_ON = {"listed", "delisted", "ip_paused", "ip_resumed"}


def _on_dnsbl_notice(notice) -> None:
    if notice["kind"] in _REEVALUATE_ON:
        from .tasks import evaluate

        evaluate.apply_async(expires=27)


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"

    def ready(self) -> None:
        from apps.core.navigation import nav_register

        nav_register(label="Alerts", url_name="alerts-index", order=70, permission="alerts.view_alert")
        from apps.core.metrics import register_collector
        from apps.dnsbl import hooks

        from . import metrics

        register_collector(metrics.collect)
        hooks.subscribe(_on_dnsbl_notice)
