from django.urls import path

from apps.core.views import module_pending

from . import views

urlpatterns = [
    path("health/", views.health, name="ips-health"),
    path(
        "",
        module_pending,
        {
            "module": "Sending IPs",
            "summary": "Sending IPv4/IPv6 addresses, CIDR ranges, bulk activate/pause/quarantine and warmup schedules.",
        },
        name="ips-index",
    ),
]
