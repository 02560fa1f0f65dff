from django.urls import path

from apps.core.views import module_pending

PENDING = {"module": "Email flow", "summary": "Delivery events, throughput, delivery time, bounces and destinations."}

urlpatterns = [
    path("", module_pending, PENDING, name="events-flow"),
]
