from django.urls import path

from apps.core.views import module_pending

urlpatterns = [
    path(
        "",
        module_pending,
        {"module": "Pools", "summary": "IP pools for transactional, marketing and notification mail."},
        name="pools-index",
    ),
]
