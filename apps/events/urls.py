"""Email-flow pages (the API lives in api_urls.py)."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.flow, name="events-flow"),
    path("performance/", views.performance, name="events-performance"),
    path("queue/", views.queue, name="events-queue"),
    path("bounces/", views.bounces, name="events-bounces"),
    path("destinations/", views.destinations, name="events-destinations"),
    path("search/", views.search, name="events-search"),
    path("event/<int:pk>/", views.event_detail, name="events-detail"),
]
