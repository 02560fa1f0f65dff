"""OpenAPI 3 schema at /api/schema/ and Swagger UI at /api/docs/, both served locally."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_schema_validates_as_openapi_3_without_warnings(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stderr=io.StringIO())
    schema = yaml.safe_load(target.read_text())
    assert schema["openapi"].startswith("3.")


def test_the_schema_is_served_to_staff(viewer_client):
    response = viewer_client.get("/api/schema/?format=json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.") and schema["info"]["title"] == "mailmon API"
    assert "AgentApiKey" in schema["components"]["securitySchemes"]


def test_swagger_ui_is_served_without_a_cdn(viewer_client):
    html = viewer_client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()


def test_ip_fields_are_documented_as_ipv4_or_ipv6(viewer_client):
    schema = viewer_client.get("/api/schema/?format=json").json()
    either = [{"format": "ipv4"}, {"format": "ipv6"}]
    components = schema["components"]["schemas"]
    ingest = [c for name, c in components.items() if name.startswith("EventIngest") and "properties" in c]
    ingest = [c for c in ingest if "sending_ip" in c["properties"]]
    assert ingest and all(c["properties"]["sending_ip"]["anyOf"] == either for c in ingest)
    assert components["NodeListOutput"]["properties"]["address"]["anyOf"] == either
    stats = schema["paths"]["/api/v1/email/stats"]["get"]["parameters"]
    assert next(p for p in stats if p["name"] == "ip")["schema"]["anyOf"] == either
