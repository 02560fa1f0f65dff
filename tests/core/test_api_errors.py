"""API error bodies are JSON, even for the form-body limits Django enforces while DRF parses."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_a_form_body_with_too_many_fields_is_a_json_400(operator_client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    response = operator_client.post("/api/v1/dnsbl/check", {"ips": [f"198.51.100.{i}" for i in range(1, 30)]})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]
