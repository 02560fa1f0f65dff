"""compose.yaml (cannot be run here: no Docker engine) parses and has the production shape."""

from __future__ import annotations

from pathlib import Path

import yaml
from django.conf import settings

COMPOSE = Path(settings.BASE_DIR) / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_timescaledb_redis_web_ingest_worker_and_beat():
    services = _compose()["services"]
    assert services["db"]["image"] == "timescale/timescaledb:latest-pg16"
    assert {"redis", "migrate", "web", "ingest", "worker", "beat"} <= services.keys()
    assert "mailmon.daphne_server" in services["web"]["command"] and "gunicorn" in services["ingest"]["command"]
    assert services["worker"]["command"][4:6] == ["mailmon", "worker"]
    assert services["beat"]["command"][4:6] == ["mailmon", "beat"]


def test_every_app_service_reads_env_from_dotenv_in_production_mode():
    services = _compose()["services"]
    for name in ("migrate", "web", "ingest", "worker", "beat"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["MAILMON_ENV"] == "production"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")


def test_web_and_ingest_are_health_checked_on_health_live():
    services = _compose()["services"]
    for name in ("web", "ingest"):
        assert "/health/live" in " ".join(services[name]["healthcheck"]["test"])


def test_the_app_waits_for_migrations_and_healthy_servers():
    services = _compose()["services"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_only_the_nginx_proxy_is_published_and_the_portal_trusts_only_it():
    services = _compose()["services"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["image"].startswith("nginx:")
    assert "./deploy/nginx/mailmon.conf:/etc/nginx/conf.d/default.conf:ro" in services["proxy"]["volumes"]
    address = services["proxy"]["networks"]["mailmon"]["ipv4_address"]
    for name in ("web", "ingest", "worker", "beat"):
        assert services[name]["environment"]["MAILMON_TRUSTED_PROXIES"] == address
