from __future__ import annotations

import pytest

from apps.alerts.models import Rule


@pytest.fixture(autouse=True)
def _no_default_rules(db):
    """Each test names the rules it evaluates (the migration's defaults are tested on their own)."""
    Rule.objects.all().delete()
