"""The agent's modules, imported from agent/ as a mail server would run them (not as portal code)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings

AGENT_DIR = Path(settings.BASE_DIR) / "agent"
if str(AGENT_DIR) not in sys.path:
    sys.path.insert(0, str(AGENT_DIR))

import mailmon_agent  # noqa: E402
import mailmon_pools  # noqa: E402
import mailmon_postfix  # noqa: E402

__all__ = ["AGENT_DIR", "mailmon_agent", "mailmon_pools", "mailmon_postfix"]
