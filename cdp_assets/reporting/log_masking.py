"""Emails and phone numbers masked in log messages, before any handler sees them.

`MaskingFilter` rewrites a record's message (`record.msg % record.args`) through
`mask_pii_text`; put it on any handler. `install_log_masking` makes it apply to everything the
`dagster` and `cdp_assets` loggers and their descendants log. A filter on a logger is not
enough: it does not see records propagated from child loggers (`cdp_assets.defs.x`), and the
handlers that matter come and go — Dagster attaches its event-log handler to the managed
loggers for each step only, and `context.log` is a logger of its own outside the logging
registry (though named `dagster`). So the filter is applied where every record is born: a
log-record factory, chained once in front of the current one, masks the records of those
logger hierarchies whatever handler later handles them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from cdp_assets.reporting.markdown import mask_pii_text

DEFAULT_LOGGERS: tuple[str, ...] = ("dagster", "cdp_assets")


class MaskingFilter(logging.Filter):
    """Rewrites a record's message with emails and phone numbers masked; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


def mask_record(record: logging.LogRecord) -> None:
    """Formats the record's message with its args and masks it, in place."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed call: let logging report it as usual
        return
    masked = mask_pii_text(message)
    if masked != message or record.args:
        record.msg = masked
        record.args = ()


class _Installation:
    """The chained factory and the logger hierarchies it masks (one per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.names: set[str] = set()
        self.previous: Callable[..., logging.LogRecord] | None = None
        self.factory: Callable[..., logging.LogRecord] | None = None

    def covers(self, logger_name: str | None) -> bool:
        if not logger_name:
            return False
        return any(logger_name == n or logger_name.startswith(n + ".") for n in self.names)


_INSTALLED = _Installation()


def install_log_masking(logger_names: Iterable[str] = DEFAULT_LOGGERS) -> None:
    """Mask emails and phone numbers in every record that the named loggers, or loggers
    below them, create — whichever handler (console, Dagster's event log, caplog) handles it.
    Idempotent: calling it again only adds logger names."""
    state = _INSTALLED
    with state.lock:
        state.names.update(logger_names)
        if state.factory is not None:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if state.covers(record.name):
                mask_record(record)
            return record

        state.previous = previous
        state.factory = factory
        logging.setLogRecordFactory(factory)


def uninstall_log_masking() -> None:
    """Restore the log-record factory found by `install_log_masking` (tests)."""
    state = _INSTALLED
    with state.lock:
        if state.factory is not None and logging.getLogRecordFactory() is state.factory:
            assert state.previous is not None
            logging.setLogRecordFactory(state.previous)
        state.names.clear()
        state.previous = None
        state.factory = None


# -- exceptions ---------------------------------------------------------------------------------
MAX_ERROR_CHARS = 4_000  # of a failure message masked and kept (the rest is cut)
MAX_CAUSES = 5  # exceptions of a cause chain kept, masked; deeper ones are dropped


class MaskedError(Exception):
    """An exception standing in for another whose message may have named a customer: its text
    is `<original class>: <masked message>`, its traceback the original's frames (code lines
    only, never values)."""


def masked_message(exc: BaseException) -> str:
    """The exception's message and notes, identifiers masked and the length bounded."""
    parts = [str(exc), *(str(n) for n in getattr(exc, "__notes__", ()))]
    text = "\n".join(p for p in parts if p)
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + " …(cut)"
    return mask_pii_text(text)


def masked_cause(exc: BaseException) -> BaseException | None:
    """What the exception was raised from, or during: the chain Dagster serialises."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


def masked_exception(exc: BaseException, depth: int = 0) -> MaskedError:
    """A stand-in for `exc` and its cause chain (up to MAX_CAUSES), every message masked. The
    original is not referenced, so no serialiser can reach its message."""
    name = f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")
    stand_in = MaskedError(f"{name}: {masked_message(exc)}")
    stand_in = stand_in.with_traceback(exc.__traceback__)
    cause = masked_cause(exc)
    if cause is not None and depth + 1 < MAX_CAUSES:
        stand_in.__cause__ = masked_exception(cause, depth + 1)
    stand_in.__suppress_context__ = True
    return stand_in
