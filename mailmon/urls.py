"""Top-level URLs: pages per app, the versioned API under /api/v1/, health and metrics."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.nodes.views import overview

MODULES = ["nodes", "pools", "ips", "events", "dnsbl", "alerts", "reports", "warmup"]

api_v1 = [path("", include(f"apps.{name}.api_urls")) for name in MODULES]

urlpatterns = [
    path("", overview, name="home"),
    path("", include("apps.core.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    *[path(f"{name}/", include(f"apps.{name}.urls")) for name in MODULES],
]
handler404 = "apps.core.api_errors.not_found"
handler400 = "apps.core.api_errors.bad_request"
