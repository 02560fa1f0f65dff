from django.urls import path

from . import views, views_warmup

urlpatterns = [
    path("health/", views.health, name="ips-health"),
    path("", views.index, name="ips-index"),
    path("bulk", views.bulk, name="ips-bulk"),
    path("range/", views.range_add, name="ips-range"),
    path("warmup/", views_warmup.warmup, name="ips-warmup"),
    path("warmup/set", views_warmup.warmup_set, name="ips-warmup-set"),
]
