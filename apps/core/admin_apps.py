"""Django's admin app, with mailmon's site: roles get in, permissions decide (see admin_site.py)."""

from django.contrib.admin.apps import AdminConfig


class MailmonAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.MailmonAdminSite"
