from django.urls import path

from apps.core.views import module_pending

urlpatterns = [
    path(
        "",
        module_pending,
        {"module": "Mailbox warmup", "summary": "Mailbox warmup under global and per-user rate limits."},
        name="warmup-index",
    ),
]
