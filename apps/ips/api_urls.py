from django.urls import path

from .api import MtaPoolsApi

urlpatterns = [
    path("mta/pools", MtaPoolsApi.as_view(), name="api-mta-pools"),
]
