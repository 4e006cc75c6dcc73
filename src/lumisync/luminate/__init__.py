"""Luminate Online: the server-API client (pure Python, no Django) and, in ``files``, the changed-records file."""

from lumisync.luminate.api import UserField, WriteResult
from lumisync.luminate.client import AsyncLuminateClient, LuminateClient, UserResult
from lumisync.luminate.config import Credentials, RetryPolicy, SiteConfig
from lumisync.luminate.errors import (
    Duplicate,
    InvalidInput,
    LuminateError,
    MalformedRecord,
    MultipleMatches,
    NotFound,
    RecordLevelError,
    RunLevelError,
    TransientError,
    ValidationFailed,
)

__all__ = [
    "AsyncLuminateClient",
    "Credentials",
    "Duplicate",
    "InvalidInput",
    "LuminateClient",
    "LuminateError",
    "MalformedRecord",
    "MultipleMatches",
    "NotFound",
    "RecordLevelError",
    "RetryPolicy",
    "RunLevelError",
    "SiteConfig",
    "TransientError",
    "UserField",
    "UserResult",
    "ValidationFailed",
    "WriteResult",
]
