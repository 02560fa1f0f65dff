from django.urls import path

from .api import NodeDetailApi, NodeListApi, NodeMetricsIngestApi, NodeMetricsReadApi
from .api_zonemta import ZoneMtaDestinationsApi, ZoneMtaIpsApi, ZoneMtaNodeListApi, ZoneMtaPerformanceApi

urlpatterns = [
    path("nodes", NodeListApi.as_view(), name="api-nodes-list"),
    path("nodes/metrics", NodeMetricsIngestApi.as_view(), name="api-nodes-metrics"),
    # path converters: an agent may have named its node with a "/" (the metrics route first)
    path("nodes/<path:hostname>/metrics", NodeMetricsReadApi.as_view(), name="api-nodes-metrics-read"),
    path("nodes/<path:hostname>", NodeDetailApi.as_view(), name="api-nodes-detail"),
    # The ZoneMTA cluster views, by node id.
    path("zonemta/nodes", ZoneMtaNodeListApi.as_view(), name="api-zonemta-nodes"),
    path("zonemta/nodes/<int:id>/performance", ZoneMtaPerformanceApi.as_view(), name="api-zonemta-performance"),
    path("zonemta/nodes/<int:id>/ips", ZoneMtaIpsApi.as_view(), name="api-zonemta-ips"),
    path("zonemta/nodes/<int:id>/destinations", ZoneMtaDestinationsApi.as_view(), name="api-zonemta-destinations"),
]
