"""Django's own 400/404 answers are JSON under /api/ (what API clients parse), pages keep HTML."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_an_unknown_api_path_answers_json_404(viewer_client):
    response = viewer_client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_an_unknown_page_still_answers_html_404(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_too_many_form_fields_on_an_api_answer_json_400(operator_client):
    body = "&".join(f"f{i}=x" for i in range(1500))
    response = operator_client.post("/api/v1/dnsbl/check", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "detail" in response.json()


def test_an_unknown_metrics_format_names_the_field(viewer_client):
    response = viewer_client.get("/api/v1/warmup/metrics?format=xml")
    assert response.status_code == 400
    assert "format" in response.json()


def test_a_form_body_with_too_many_fields_is_a_json_400(operator_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = operator_client.post("/api/v1/dnsbl/check", {"ips": [f"198.51.100.{i}" for i in range(1, 30)]})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]
