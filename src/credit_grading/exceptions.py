"""The project's errors.

Every error the library raises on purpose derives from :class:`CreditGradingError`, so a
caller (and the CLI) can catch one type. Each subclass also inherits the matching built-in
exception, so ``except ValueError`` keeps working for code that does not know ours.
"""

from __future__ import annotations


class CreditGradingError(Exception):
    """Base class of every error raised on purpose by credit_grading."""


class ConfigError(CreditGradingError, ValueError):
    """A configuration file or object is invalid (names the file, key path and value)."""


class CatalogueError(ConfigError):
    """The public credit information catalogue is inconsistent."""


class DataError(CreditGradingError, ValueError):
    """Input data cannot be used as a whole (unreadable file, missing or wrong-kind column)."""


class SchemaError(DataError):
    """A table does not match the registry data contract at table level."""


class NotFittedError(CreditGradingError, ValueError, AttributeError):
    """A model or transformer was used before ``fit``."""


class BundleError(CreditGradingError, ValueError):
    """A model bundle is missing, tampered with or of an unsupported format."""


class AuditError(CreditGradingError):
    """The audit database refuses an operation (unknown objection, tampered log, missing or foreign file, …)."""
