from django.apps import AppConfig


class NodesConfig(AppConfig):
    name = "apps.nodes"
    label = "nodes"

    def ready(self) -> None:
        from django.conf import settings

        from apps.core import timeseries
        from apps.core.navigation import nav_register

        from .models import NodeMetric

        timeseries.TABLES[NodeMetric._meta.db_table] = lambda: settings.MAILMON_METRICS_RETENTION_DAYS
        nav_register(label="Fleet", url_name="nodes-overview", order=10, permission="nodes.view_node")
