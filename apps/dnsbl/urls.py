from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="dnsbl-index"),
    path("zones/", views.zones, name="dnsbl-zones"),
    path("ips/<str:address>/", views.ip_detail, name="dnsbl-ip"),
    path("check", views.check, name="dnsbl-check"),
]
