from django.urls import path

from apps.core.views import module_pending

urlpatterns = [
    path(
        "",
        module_pending,
        {"module": "Reputation", "summary": "DNSBL checks of every sending IP and domain, history and auto-pause."},
        name="dnsbl-index",
    ),
]
