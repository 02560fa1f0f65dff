"""deploy/nginx/mailmon.conf: valid for nginx, and in front of the served portal it refuses
oversized bodies per path before the portal reads a byte."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from . import processes

CONFIG = Path(settings.BASE_DIR) / "deploy" / "nginx" / "mailmon.conf"
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)

pytestmark = pytest.mark.skipif(
    NGINX is None and not os.environ.get("MAILMON_REQUIRE_NGINX"),
    reason="nginx is not installed (.ci/run installs it and sets MAILMON_REQUIRE_NGINX=1)",
)
served = pytest.mark.django_db(transaction=True)


def _render(directory: Path, *, web: str, ingest: str, http_port: int, https_port: int) -> Path:
    """The repository's config with local upstreams, ports and a self-signed certificate."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")],
        check=True, capture_output=True,
    )
    site = (
        CONFIG.read_text()
        .replace("server web:8000;", f"server {web};")
        .replace("server ingest:8001;", f"server {ingest};")
        .replace("/etc/nginx/certs/", f"{directory}/")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};").replace("listen [::]:80;", "")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;").replace("listen [::]:443 ssl;", "")
    )
    (directory / "mailmon.conf").write_text(site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"  {kind}_temp_path {directory}/{kind};" for kind in kinds)
    main = directory / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {directory}/nginx.pid;\nerror_log {directory}/error.log;\ndaemon off;\nevents {{}}\n"
        + f"http {{\n  access_log off;\n{temp}\n  include {directory}/mailmon.conf;\n}}\n"
    )
    return main


def test_the_config_passes_nginx_t(tmp_path):
    assert NGINX, "nginx is required here"
    main = _render(tmp_path, web="127.0.0.1:8000", ingest="127.0.0.1:8001", http_port=8080, https_port=8443)
    result = subprocess.run([NGINX, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_the_config_has_per_path_limits_timeouts_buffering_and_websockets():
    text = CONFIG.read_text()
    assert "client_max_body_size        1m;" in text and "client_max_body_size    32m;" in text
    for directive in ("client_body_timeout", "proxy_read_timeout 3600s", "proxy_request_buffering on",
                      "X-Forwarded-For   $remote_addr", "Upgrade           $http_upgrade"):
        assert directive in text


@pytest.fixture
def proxied_portal(tmp_path, django_db_setup, django_db_blocker):
    """daphne behind nginx (TLS) on free ports; yields the HTTPS port."""
    web_port, http_port, https_port = (processes.free_port() for _ in range(3))
    with django_db_blocker.unblock():
        daphne = processes.start(
            ["-m", "mailmon.daphne_server", "-b", "127.0.0.1", "-p", str(web_port), "mailmon.asgi:application"],
            tmp_path / "daphne.log",
        )
        main = _render(tmp_path, web=f"127.0.0.1:{web_port}", ingest=f"127.0.0.1:{web_port}",
                       http_port=http_port, https_port=https_port)
        nginx = subprocess.Popen([NGINX, "-c", str(main), "-p", str(tmp_path)], stderr=subprocess.PIPE)
        try:
            def up() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", web_port), timeout=1).close()
                    socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                    return True
                except OSError:
                    return False

            processes.wait_for(up, timeout=60, what="daphne and nginx listening", procs=[daphne])
            yield https_port
        finally:
            nginx.terminate()
            nginx.wait(timeout=10)
            processes.stop(daphne)


def _post(port: int, path: str, size: int, **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ssl._create_unverified_context())
    try:
        connection.request("POST", path, body=b"x" * size, headers={"Host": "127.0.0.1", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@served
def test_behind_nginx_each_path_gets_its_own_body_limit(proxied_portal):
    status, body = _post(proxied_portal, "/accounts/login/", 2 * 2**20)
    assert status == 413 and b"nginx" in body  # refused by the proxy, the portal never saw it
    status, body = _post(proxied_portal, "/api/v1/events/ingest", 2 * 2**20, Authorization="Api-Key not-a-key")
    assert status == 401 and b"detail" in body, body  # through to the portal, which judges the key
    status, _ = _post(proxied_portal, "/api/v1/events/ingest", 33 * 2**20, Authorization="Api-Key not-a-key")
    assert status == 413


@served
def test_behind_nginx_the_portal_answers_over_tls(proxied_portal):
    connection = http.client.HTTPSConnection("127.0.0.1", proxied_portal, timeout=10,
                                             context=ssl._create_unverified_context())
    connection.request("GET", "/health/live", headers={"Host": "127.0.0.1"})
    assert connection.getresponse().status == 200
