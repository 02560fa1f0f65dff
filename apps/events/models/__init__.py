"""Events models, one module per concern (netbox style: explicit __all__)."""

from .events import BounceRule, EmailEvent
from .inbox import *  # noqa: F403
from .inbox import __all__ as _inbox_all
from .rollups import *  # noqa: F403
from .rollups import __all__ as _rollups_all

__all__ = ["BounceRule", "EmailEvent", *_inbox_all, *_rollups_all]
