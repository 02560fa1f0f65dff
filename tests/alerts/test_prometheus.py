"""/metrics alert states and the figures rules judge; the Prometheus rules export; the Grafana dashboard."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
import yaml
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from apps.alerts.services import evaluation_run
from tests.nodes.factories import NodeFactory

from .factories import RuleFactory, report

pytestmark = pytest.mark.django_db
DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "mailmon.json"
PROMQL_WORDS = {"sum", "rate", "increase", "and", "label_values", "histogram_quantile"}


def _scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def test_metrics_expose_firing_alerts_with_rule_subject_and_severity(client):
    RuleFactory(name="cpu hot", for_seconds=0, severity="critical")
    report(NodeFactory(hostname="mx1.example.net", role="postfix"), timezone.now(), cpu_percent=97)
    evaluation_run()
    families = _scrape(client)
    (sample,) = families["mailmon_alert_firing"].samples
    assert sample.labels == {"rule": "cpu hot", "subject": "node:mx1.example.net", "severity": "critical"}
    assert sample.value == 1
    cpu = families["mailmon_node_cpu_percent"].samples[0]
    assert cpu.labels == {"node": "mx1.example.net", "role": "postfix"} and cpu.value == 97


def _metric_names(expr: str) -> set[str]:
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    return {w for w in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if w not in PROMQL_WORDS}


def test_every_metric_the_grafana_dashboard_queries_is_exported(client):
    report(NodeFactory(), timezone.now())
    # Labelled series exist once measured: the portal answered a request and read its cache.
    client.get("/health/live")
    cache.get("mta-pools:any")
    exported = set()
    for name, family in _scrape(client).items():
        exported |= {name, *(s.name for s in family.samples)}
    dashboard = json.loads(DASHBOARD.read_text())
    used = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            used |= _metric_names(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            used |= _metric_names(variable["definition"].replace("label_values(", "").split(",")[0])
    assert used, "the dashboard queries nothing"
    assert used <= exported, sorted(used - exported)


def test_export_prometheus_rules_writes_the_equivalent_rules():
    RuleFactory(name="CPU above 80 %", source="node.cpu", threshold=80, for_seconds=300, scope="role:postfix")
    RuleFactory(name="bounces", source="email.bounce_rate", threshold=5, for_seconds=0, min_volume=200,
                group_by="node")
    RuleFactory(name="listed", source="dnsbl.listed", threshold=0)
    out = io.StringIO()
    call_command("export_prometheus_rules", stdout=out)
    text = out.getvalue()
    rules = {r["alert"]: r for r in yaml.safe_load(text)["groups"][0]["rules"]}
    assert rules["CPU above 80 %"]["expr"] == 'mailmon_node_cpu_percent{role="postfix"} > 80'
    assert rules["CPU above 80 %"]["for"] == "5m" and rules["CPU above 80 %"]["labels"]["severity"] == "warning"
    assert "mailmon_email_sent_15m{} >= 200" in rules["bounces"]["expr"]
    assert "listed" not in rules and "# skipped 'listed'" in text
