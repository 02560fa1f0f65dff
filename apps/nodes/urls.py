from django.urls import path

from . import views, views_detail

urlpatterns = [
    path("", views.overview, name="nodes-overview"),
    path("<path:hostname>/", views_detail.node_detail, name="nodes-detail"),
]
