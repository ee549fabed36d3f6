"""Errors a user can fix.

Every message is one line that names the file, the row or field, and what was expected, so the
CLI and the Airflow task log can show it as is. Anything else that escapes is a bug in this code.
"""

from __future__ import annotations


class PaperTradingError(Exception):
    """Base of the errors caused by input or configuration rather than by a bug."""


class ConfigError(PaperTradingError):
    """A configuration or manifest file is invalid."""


class InputError(PaperTradingError):
    """A data file (signals, mapping, prices) is missing, unreadable or has bad rows."""
