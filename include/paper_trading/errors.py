"""The library's errors, and which of them a retry can fix.

Every message is one line that names the file, the row or field, and what was expected (or, for
the broker, the host and what it answered), so the CLI and the Airflow task log can show it as
is. Anything else that escapes is a bug in this code.

The classes say what a scheduler should do with a failure, and the DAG's retry policy names them
by dotted path (this module imports nothing heavy, so naming them costs the DAG parser nothing):

- `PaperTradingError` and its subclasses not listed below: bad input, bad configuration,
  refused authorization, refused live trading, an order the broker refused. No retry can fix
  them: the task fails at once, with the message.
- `TRANSIENT_ERRORS` — `BrokerUnavailable` (connection refused or dropped, timeout, HTTP 5xx, 429
  after the adapter's own back-off), `AmbiguousSubmitError`, `OutcomeUnknown` (an order's fate
  still unknown), `LedgerUnavailable` and `LedgerBusy`: a later try may succeed, so they are
  retried with back-off.
- `SignalsNotReady`: not an error of the data but "not published yet"; the sensor waits.
"""

from __future__ import annotations


class PaperTradingError(Exception):
    """Base of the errors caused by input, configuration or the broker rather than by a bug."""


class ConfigError(PaperTradingError):
    """A configuration or manifest file (or a command-line option) is invalid."""


class InputError(PaperTradingError):
    """A data file (signals, mapping, prices, positions, orders) is missing, unreadable or has bad rows."""


class SignalsNotReady(InputError):
    """A strategy file is not published yet (absent, empty, or being rewritten while read): wait for it.

    A file that is there and cannot be read is an `InputError`, which fails at once.
    """


# ------------------------------------------------------------------------------------ broker


class BrokerError(PaperTradingError):
    """The broker answered with an error that a retry does not fix (or a broker call failed)."""

    def __init__(self, message: str, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code


class BrokerUnavailable(BrokerError):
    """Transient: the broker could not be reached, timed out, failed (5xx) or rate-limited us (429)."""


class BrokerAuthError(BrokerError):
    """The broker refused our credentials (401/403) or they are missing: a person must fix them."""


class LiveTradingRefused(ConfigError):
    """The broker URL may trade real money and `allow_live` is not set."""


class OrderRejected(BrokerError):
    """The broker definitely refused the order (4xx): nothing was created."""


class SubmitRateLimited(OrderRejected):
    """HTTP 429 on a submit: nothing was created; back off, look the client_order_id up, then retry."""

    retry_after: float | None = None  # seconds, from Retry-After / X-RateLimit-Reset when the broker sent them


class AmbiguousSubmitError(BrokerError):
    """The submit's outcome is unknown (timeout, dropped connection, 5xx): the order may exist.

    Resolve it by looking up `client_order_id`; never by sending the order again.
    """

    def __init__(self, message: str, client_order_id: str, status: int | None = None) -> None:
        super().__init__(message, status)
        self.client_order_id = client_order_id


# ------------------------------------------------------------------------------------ ledger


class LedgerUnavailable(PaperTradingError):
    """Transient: the ledger database cannot be reached (a later try may succeed)."""


class LedgerBusy(PaperTradingError):
    """Transient: another run holds the ledger lock for this trade date (it waits, then this)."""


class OutcomeUnknown(PaperTradingError):
    """Transient: some orders' outcome at the broker is still unknown; running again resolves them."""


class TradingRefused(PaperTradingError):
    """Real execution refused to trade (market closed, account blocked, kill switch, approvals not
    of this run): no retry can change that; a person looks at the alert."""


#: Errors a later try may fix (the DAG retries them with back-off; everything else of ours fails at once).
TRANSIENT_ERRORS: tuple[type[PaperTradingError], ...] = (
    BrokerUnavailable, AmbiguousSubmitError, LedgerUnavailable, LedgerBusy, OutcomeUnknown)
