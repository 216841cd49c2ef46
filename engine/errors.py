"""Domain errors. Pages show an `ItaError` as a message; anything else is a bug and propagates.

Every message is one line that names the file/field and the problem, and says how to fix it
where that is known.
"""

from __future__ import annotations


class ItaError(Exception):
    """Base of every error a user can cause or fix."""


class DataError(ItaError):
    """Candles or an input file are wrong (missing columns, bad timestamps, high < low, ...)."""


class SetupError(ItaError):
    """A setup YAML does not validate, or a setup id/version does not exist."""


class ConfigurationError(ItaError):
    """Settings, paths or secrets are missing or wrong; a person must fix them."""


class TemporaryError(ItaError):
    """A transient failure (network, rate limit); retrying later may succeed."""


class SourceUnavailable(ItaError):
    """A market-data source cannot be used on this machine (e.g. MetaTrader5 off Windows)."""


class JobError(ItaError):
    """A background job request is malformed or its job failed."""


class KnowledgeError(ItaError):
    """A knowledge-base file cannot be added or read (encrypted or corrupt PDF, empty file,
    archive, unknown type, unsafe name, over the size limit); the message names the file."""
