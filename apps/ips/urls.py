from django.urls import path

from apps.core.views import module_pending

from . import views

urlpatterns = [
    path("", views.index, name="ips-index"),
    path("bulk", views.bulk, name="ips-bulk"),
    path("range/", views.range_add, name="ips-range"),
    path("warmup/", module_pending, {"module": "IP warmup", "summary": "Warmup schedules per IP."}, name="ips-warmup"),
]
