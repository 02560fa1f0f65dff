from django.urls import path

from apps.core.views import module_pending

urlpatterns = [
    path(
        "",
        module_pending,
        {"module": "Alerts", "summary": "Alert rules and notification channels."},
        name="alerts-index",
    ),
]
