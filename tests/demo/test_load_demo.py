"""The demo app: load_demo writes the demo fleet, login and key; run_stack --demo needs the app installed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.core.models import AgentAPIKey
from apps.ips.models import SendingIP
from apps.nodes.models import Node
from apps.pools.models import IpPool


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_prints_the_login(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("MAILMON_ADMIN_PASSWORD", "demo-password-1")
    out = StringIO()
    call_command("load_demo", stdout=out)
    call_command("load_demo", stdout=out)
    assert "demo fleet: 15 nodes, 4 pools, 320 sending IPs" in out.getvalue()
    assert "login: admin / demo-password-1" in out.getvalue()
    assert (Node.objects.count(), IpPool.objects.count(), SendingIP.objects.count()) == (15, 4, 320)
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("demo-password-1") and admin.groups.filter(name="Admin").exists()
    assert AgentAPIKey.objects.is_valid((tmp_path / "demo_agent_key").read_text().strip())
    assert AgentAPIKey.objects.filter(name="demo-simulator").count() == 1


def test_run_stack_demo_refuses_clearly_when_the_demo_app_is_left_out(monkeypatch):
    real = apps.is_installed
    monkeypatch.setattr(apps, "is_installed", lambda name: name != "apps.demo" and real(name))
    with pytest.raises(CommandError, match="--demo: the demo app is not installed"):
        call_command("run_stack", "--demo", "--port", "1")
