from django.urls import path

from apps.core.views import module_pending

urlpatterns = [
    path(
        "",
        module_pending,
        {"module": "Reports", "summary": "Daily and weekly reports."},
        name="reports-index",
    ),
]
