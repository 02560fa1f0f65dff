"""Agent API keys: hashed at rest, 401 for unknown/revoked, 403 outside the allowlist, node scope."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from apps.core.models import AgentAPIKey
from tests.core.factories import make_agent_key
from tests.nodes.factories import NodeFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/nodes/metrics"


def post_metrics(client, key: str, hostname: str = "mta-1.example.net", **meta):
    meta.setdefault("REMOTE_ADDR", "127.0.0.1")
    return client.post(
        URL,
        {"hostname": hostname, "cpu_percent": 12.5},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Api-Key {key}",
        **meta,
    )


def test_a_valid_key_from_an_allowed_address_is_accepted(client, agent_key):
    response = post_metrics(client, agent_key)
    assert response.status_code == 202, response.content
    assert response.json()["hostname"] == "mta-1.example.net"


def test_a_key_used_from_outside_its_allowlist_gets_403(client):
    _, key = make_agent_key("dc1", allowed_cidrs=["10.1.0.0/16"])
    assert post_metrics(client, key, REMOTE_ADDR="10.1.2.3").status_code == 202
    response = post_metrics(client, key, REMOTE_ADDR="10.2.0.1")
    assert response.status_code == 403
    assert "10.2.0.1" in response.json()["detail"]


def test_an_ipv6_allowlist_is_honoured(client):
    _, key = make_agent_key("v6", allowed_cidrs=["2001:db8::/32"])
    assert post_metrics(client, key, REMOTE_ADDR="2001:db8::5").status_code == 202
    assert post_metrics(client, key, REMOTE_ADDR="2001:db9::5").status_code == 403


def test_a_revoked_key_gets_401(client):
    stored, key = make_agent_key("old")
    stored.revoked = True
    stored.save()
    response = post_metrics(client, key)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


@pytest.mark.parametrize(
    "header",
    ["Api-Key not.a-real-key", "Api-Key ", "Bearer abc.def", "", "Api-Key AAAAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"],
)
def test_an_unknown_or_malformed_key_gets_401(client, header):
    make_agent_key("real")
    response = client.post(
        URL, {"hostname": "x"}, content_type="application/json", HTTP_AUTHORIZATION=header, REMOTE_ADDR="127.0.0.1"
    )
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


def test_a_staff_session_cannot_post_agent_metrics(admin_role_client):
    response = admin_role_client.post(URL, {"hostname": "x"}, content_type="application/json")
    assert response.status_code in (401, 403)


def test_no_key_is_stored_in_clear(agent_key):
    row = AgentAPIKey.objects.get(name="fleet-agent")
    prefix, _, secret = agent_key.partition(".")
    stored = [str(getattr(row, f.attname)) for f in AgentAPIKey._meta.concrete_fields]
    assert row.prefix == prefix  # the public lookup part only
    assert row.hashed_key != agent_key
    assert all(agent_key not in value and secret not in value for value in stored)
    assert row.is_valid(agent_key) and not row.is_valid(agent_key + "x")


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, settings):
    settings.MAILMON_TRUSTED_PROXIES = ["10.9.0.1"]
    _, key = make_agent_key("dc1", allowed_cidrs=["192.0.2.0/24"])
    # A client claiming to be 192.0.2.7 without coming through our proxy is not believed.
    spoofed = post_metrics(client, key, REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert spoofed.status_code == 403
    assert "203.0.113.9" in spoofed.json()["detail"]


def test_x_forwarded_for_is_believed_from_a_trusted_proxy(client, settings):
    settings.MAILMON_TRUSTED_PROXIES = ["10.9.0.0/24"]
    _, key = make_agent_key("dc1", allowed_cidrs=["192.0.2.0/24"])
    # The right-most hop our proxies did not add is the client; anything left of it is its own claim.
    ok = post_metrics(client, key, REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="198.18.0.1, 192.0.2.7, 10.9.0.2")
    assert ok.status_code == 202
    outside = post_metrics(client, key, REMOTE_ADDR="10.9.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7, 198.18.0.1")
    assert outside.status_code == 403
    assert "198.18.0.1" in outside.json()["detail"]


def test_a_node_scoped_key_posts_only_for_its_node(client):
    node = NodeFactory(hostname="mta-7.example.net")
    NodeFactory(hostname="mta-8.example.net")
    _, key = make_agent_key("mta-7", node=node)
    assert post_metrics(client, key, hostname="mta-7.example.net").status_code == 202
    response = post_metrics(client, key, hostname="mta-8.example.net")
    assert response.status_code == 403
    assert "mta-7.example.net" in response.json()["detail"]


def test_create_agent_key_prints_a_key_that_works(client):
    NodeFactory(hostname="mta-9.example.net")
    out = io.StringIO()
    call_command("create_agent_key", "mta-9", "--node", "mta-9.example.net", "--allow", "127.0.0.0/8", stdout=out)
    key = out.getvalue().strip()
    stored = AgentAPIKey.objects.get(name="mta-9")
    assert stored.node.hostname == "mta-9.example.net"
    assert stored.allowed_cidrs == ["127.0.0.0/8"]
    assert post_metrics(client, key, hostname="mta-9.example.net").status_code == 202
    assert post_metrics(client, key, hostname="mta-9.example.net", REMOTE_ADDR="10.0.0.1").status_code == 403


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "not-a-range", "300.1.1.1"])
def test_create_agent_key_rejects_a_bad_allow(bad):
    with pytest.raises(CommandError, match="--allow"):
        call_command("create_agent_key", "x", "--allow", bad, stdout=io.StringIO())
    assert not AgentAPIKey.objects.filter(name="x").exists()


def test_create_agent_key_rejects_an_unknown_node():
    with pytest.raises(CommandError, match="--node"):
        call_command("create_agent_key", "x", "--node", "nope.example.net", stdout=io.StringIO())


# --- The per-process key cache (MAILMON_AGENT_KEY_CACHE_SECONDS) ---


def test_a_used_key_is_checked_without_a_query_while_its_cache_entry_is_fresh(client, django_assert_num_queries):
    _, key = make_agent_key("cached")
    assert post_metrics(client, key).status_code == 202
    from apps.core.agent_auth import authenticate_agent

    with django_assert_num_queries(0):
        principal = authenticate_agent({"HTTP_AUTHORIZATION": f"Api-Key {key}", "REMOTE_ADDR": "127.0.0.1"})
    assert principal.key.name == "cached"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        (lambda keys: keys.update(revoked=True), 401),
        (lambda keys: keys.delete(), 401),
        (lambda keys: keys.update(allowed_cidrs=["10.0.0.0/8"]), 403),
    ],
    ids=["revoked", "deleted", "allowlist-narrowed"],
)
def test_a_key_changed_by_another_process_takes_effect_within_the_cache_bound(client, settings, change, status):
    settings.MAILMON_AGENT_KEY_CACHE_SECONDS = 1
    stored, key = make_agent_key("elsewhere")
    assert post_metrics(client, key).status_code == 202
    change(AgentAPIKey.objects.filter(pk=stored.pk))  # as the admin in another process would: no cache emptied
    assert post_metrics(client, key).status_code == 202  # this process still has the checked key
    time.sleep(1.05)
    assert post_metrics(client, key).status_code == status


def test_a_key_revoked_in_the_admin_is_refused_at_once_by_that_process(client, admin_role_client):
    stored, key = make_agent_key("revoke-now")
    assert post_metrics(client, key).status_code == 202
    admin_role_client.post("/admin/core/agentapikey/", {"action": "revoke", "_selected_action": [stored.pk]})
    assert post_metrics(client, key).status_code == 401


def test_without_the_cache_every_request_reads_the_key(client, settings):
    settings.MAILMON_AGENT_KEY_CACHE_SECONDS = 0
    stored, key = make_agent_key("uncached")
    assert post_metrics(client, key).status_code == 202
    AgentAPIKey.objects.filter(pk=stored.pk).update(revoked=True)
    assert post_metrics(client, key).status_code == 401
