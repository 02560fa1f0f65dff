"""Websocket handshakes only from the portal's own pages: same scheme, host and port.

Browsers send cookies with a websocket handshake from any site, so the ``Origin``
header is what stops another page (or another port on the same host) from reading
live data with a logged-in user's session. The origin the page was served from is
the request's own: its scheme (``wss``/``https`` also when a proxy listed in
``SECURE_PROXY_SSL_HEADER`` says so, exactly as Django decides ``is_secure()`` for
pages) and its ``Host`` header, which must be in ``ALLOWED_HOSTS``.
``CSRF_TRUSTED_ORIGINS`` are accepted too (pages served on another origin).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_tuple(origin: str) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an origin (``http://host[:port]``), ``None`` if it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _header(scope: dict, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin1")
    return None


def _scheme(scope: dict) -> str:
    if scope.get("scheme") in ("wss", "https"):
        return "https"
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:
        name, secure_value = proxy_header
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        if (_header(scope, header) or "").split(",")[0].strip() == secure_value:
            return "https"
    return "http"


def page_origin(scope: dict) -> tuple[str, str, int] | None:
    """The origin of the page that may open this socket: the handshake's scheme and Host."""
    host = _header(scope, b"host")
    if not host:
        return None
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    return origin_tuple(f"{_scheme(scope)}://{host}")


def origin_allowed(scope: dict) -> bool:
    origin = _header(scope, b"origin")
    given = origin_tuple(origin) if origin else None
    if given is None:
        return False
    trusted = {origin_tuple(o) for o in settings.CSRF_TRUSTED_ORIGINS}
    return given == page_origin(scope) or given in trusted


class SameOriginValidator:
    """ASGI wrapper: refuse the handshake (HTTP 403) unless :func:`origin_allowed`."""

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.application(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)
