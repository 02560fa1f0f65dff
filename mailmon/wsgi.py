"""WSGI entry point: serves the HTTP ingest path under gunicorn (see docs/architecture.md)."""

import os

from django.core.wsgi import get_wsgi_application

from mailmon import embedded

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
embedded.start()  # DATABASE_URL/REDIS_URL unset: the embedded servers
application = get_wsgi_application()
