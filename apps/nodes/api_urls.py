from django.urls import path

from .api import NodeListApi, NodeMetricsIngestApi

urlpatterns = [
    path("nodes", NodeListApi.as_view(), name="api-nodes-list"),
    path("nodes/metrics", NodeMetricsIngestApi.as_view(), name="api-nodes-metrics"),
]
