#!/usr/bin/env python
"""Django's command-line utility for mailmon."""

import os
import sys

# Commands that never need a server: they do not start the embedded ones (``embedded`` manages them itself).
NO_SERVERS = {"check", "collectstatic", "embedded", "help", "spectacular", "version", "--help", "--version"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailmon.settings")
    if sys.argv[1:2] and sys.argv[1] not in NO_SERVERS:
        from mailmon import embedded

        embedded.start()  # DATABASE_URL/REDIS_URL unset: the embedded servers
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
