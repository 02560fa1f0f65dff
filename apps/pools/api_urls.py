from django.urls import path

from .api import PoolDetailApi, PoolListApi

urlpatterns = [
    path("ips/pools", PoolListApi.as_view(), name="api-pools-list"),
    path("ips/pools/<str:id>", PoolDetailApi.as_view(), name="api-pools-detail"),
]
