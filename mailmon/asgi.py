"""ASGI entry point (daphne): HTTP plus authenticated websockets."""

import os

from django.core.asgi import get_asgi_application

from mailmon import embedded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
embedded.start()  # DATABASE_URL/REDIS_URL unset: the embedded servers
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from apps.core.body_limit import BodyLimitMiddleware  # noqa: E402
from apps.core.ws_origin import SameOriginValidator  # noqa: E402
from mailmon.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": BodyLimitMiddleware(django_asgi_app),  # daphne_server.py refuses earlier still
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
