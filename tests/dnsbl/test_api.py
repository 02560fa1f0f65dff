"""DNSBL API: listings, IP history, check now; clear 400s naming the field."""

from __future__ import annotations

import pytest
from django.test import TestCase

from apps.dnsbl.services import dnsbl_round_run
from apps.ips.models import SendingIP
from tests.ips.factories import SendingIPFactory

from .dns_server import SERVFAIL, listed

pytestmark = pytest.mark.django_db


def _round(*ips):
    with TestCase.captureOnCommitCallbacks(execute=True):
        dnsbl_round_run(ips=[SendingIP.objects.get(pk=ip.pk) for ip in ips])


def test_listings_name_ip_zone_code_and_meaning(viewer_client, zones, dns_server):
    SendingIPFactory(address="198.51.100.7")
    SendingIPFactory(address="198.51.100.8")
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.2", txt="why")
    dns_server.records["8.100.51.198.zen.test"] = SERVFAIL  # an error is never a listing
    _round(*SendingIP.objects.all())
    body = viewer_client.get("/api/v1/dnsbl/listings").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert {k: row[k] for k in ("ip", "domain", "zone", "code", "meaning", "reason", "may_pause")} == {
        "ip": "198.51.100.7", "domain": None, "zone": "zen.test", "code": "127.0.0.2", "meaning": "SBL",
        "reason": "why", "may_pause": True,
    }
    assert viewer_client.get("/api/v1/dnsbl/listings?zone=info.test").json()["count"] == 0


def test_listings_refuse_a_bad_filter_naming_it(viewer_client):
    response = viewer_client.get("/api/v1/dnsbl/listings?ip=nope&kind=other")
    assert response.status_code == 400
    assert set(response.json()) == {"ip", "kind"}


def test_the_history_of_an_ip_lists_its_changes(viewer_client, zones, dns_server):
    ip = SendingIPFactory(address="198.51.100.7")
    _round(ip)
    dns_server.records["7.100.51.198.zen.test"] = listed("127.0.0.2")
    _round(ip)
    body = viewer_client.get("/api/v1/dnsbl/ips/198.51.100.7/history").json()
    zen = [c for c in body["results"] if c["zone"] == "zen.test"]
    assert [(c["previous"], c["state"], c["meaning"]) for c in zen] == [("clean", "listed", "SBL"), ("", "clean", "")]


def test_history_answers_400_for_a_bad_address_and_404_for_an_unknown_one(viewer_client):
    bad = viewer_client.get("/api/v1/dnsbl/ips/999.1.1.1/history")
    assert bad.status_code == 400 and "ip" in bad.json()
    assert viewer_client.get("/api/v1/dnsbl/ips/192.0.2.1/history").status_code == 404


def test_check_queues_a_run_for_the_named_ips(operator_client):
    SendingIPFactory(address="198.51.100.7")
    response = operator_client.post("/api/v1/dnsbl/check", {"ips": ["198.51.100.7"]}, content_type="application/json")
    assert response.status_code == 202
    assert response.json()["total"] == 1 and response.json()["chunks"] == 1 and response.json()["run"]


@pytest.mark.parametrize(
    "payload",
    [{}, {"ips": []}, {"ips": ["198.51.100.99"]}, {"ips": ["x.y"]}, {"ips": "198.51.100.7"}],
)
def test_check_refuses_bad_input_naming_ips(operator_client, payload):
    SendingIPFactory(address="198.51.100.7")
    response = operator_client.post("/api/v1/dnsbl/check", payload, content_type="application/json")
    assert response.status_code == 400
    assert "ips" in response.json()


def test_a_viewer_may_read_but_not_check(viewer_client):
    assert viewer_client.get("/api/v1/dnsbl/listings").status_code == 200
    response = viewer_client.post("/api/v1/dnsbl/check", {"all": True}, content_type="application/json")
    assert response.status_code == 403


def test_the_endpoints_are_in_the_openapi_schema(viewer_client):
    schema = viewer_client.get("/api/schema/?format=json").json()
    assert {"/api/v1/dnsbl/listings", "/api/v1/dnsbl/ips/{ip}/history", "/api/v1/dnsbl/check"} <= set(schema["paths"])
