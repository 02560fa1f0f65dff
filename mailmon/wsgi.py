"""WSGI entry point: serves the HTTP ingest path under gunicorn (see docs/architecture.md)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
application = get_wsgi_application()
