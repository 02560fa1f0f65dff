from django.urls import path

from .api import NodeDetailApi, NodeListApi, NodeMetricsIngestApi, NodeMetricsReadApi

urlpatterns = [
    path("nodes", NodeListApi.as_view(), name="api-nodes-list"),
    path("nodes/metrics", NodeMetricsIngestApi.as_view(), name="api-nodes-metrics"),
    # path converters: an agent may have named its node with a "/" (the metrics route first)
    path("nodes/<path:hostname>/metrics", NodeMetricsReadApi.as_view(), name="api-nodes-metrics-read"),
    path("nodes/<path:hostname>", NodeDetailApi.as_view(), name="api-nodes-detail"),
]
