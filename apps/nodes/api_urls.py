from django.urls import path

from .api import NodeDetailApi, NodeListApi, NodeMetricsIngestApi, NodeMetricsReadApi

urlpatterns = [
    path("nodes", NodeListApi.as_view(), name="api-nodes-list"),
    path("nodes/metrics", NodeMetricsIngestApi.as_view(), name="api-nodes-metrics"),
    path("nodes/<str:hostname>", NodeDetailApi.as_view(), name="api-nodes-detail"),
    path("nodes/<str:hostname>/metrics", NodeMetricsReadApi.as_view(), name="api-nodes-metrics-read"),
]
