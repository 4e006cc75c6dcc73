"""The integration's configuration (``integration``) and what the sync engine keeps (``runs``)."""

from . import integration, runs
from .integration import *  # noqa: F403
from .runs import *  # noqa: F403

__all__ = [*integration.__all__, *runs.__all__]
