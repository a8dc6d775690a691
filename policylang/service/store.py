"""The service's way to the shared ledger: a small pool of connections that heal.

Every ledger call runs on a worker thread with a :class:`~policylang.ledger.Ledger` taken
from the pool. When a call fails with a store fault (the database went away), the
connection is dropped and the store is marked down for a short, growing backoff: calls
in that time fail at once with :class:`Unavailable` (the service answers 503 with
``Retry-After``), and the first call after it opens a fresh connection. So the service
recovers by itself when the database returns, without a restart.

A :class:`~policylang.ledger.LedgerError` that is the caller's fault (an unknown
reservation) is told apart from a fault of the store by asking the same connection a
trivial question: if that works, the store is fine and the error is the caller's.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from policylang.ledger import Ledger, LedgerError, LedgerUnreachable, ReservationError, open_ledger

log = logging.getLogger("policylang.service")
T = TypeVar("T")

FIRST_BACKOFF, LAST_BACKOFF = 0.1, 5.0


class Unavailable(Exception):
    """The ledger cannot be reached now; ``retry_after`` is a hint in seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Store:
    """A pool of up to ``size`` ledgers on ``url``, opened as needed, dropped when broken."""

    def __init__(self, url: str, *, size: int = 4, on_error: Callable[[str], None] | None = None,
                 **options: Any) -> None:
        self.url = url
        self.size = 1 if url == "memory:" else size
        self.options = options
        self._idle: queue.LifoQueue[Ledger] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._backoff = FIRST_BACKOFF
        self._on_error = on_error or (lambda kind: None)
        self._memory: Ledger | None = None
        # open one now: a typo in the URL is an error at start, not a 503 later
        self._idle.put(self._open())

    def _open(self) -> Ledger:
        if self.url == "memory:":
            if self._memory is None:
                self._memory = open_ledger(self.url, **self.options)
            return self._memory
        return open_ledger(self.url, **self.options)

    def _take(self) -> Ledger:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            wait = self._down_until - time.monotonic()
        if wait > 0:
            raise Unavailable("the ledger is unreachable", wait)
        try:
            return self._open()
        except LedgerError as exc:
            self._fault(f"cannot reconnect: {exc.message}")
            raise Unavailable("the ledger is unreachable", self._backoff) from None

    def _fault(self, what: str) -> None:
        # the other idle connections went down with this one: drop them now rather than
        # fail one request on each of them later
        while True:
            try:
                self._drop(self._idle.get_nowait())
            except queue.Empty:
                break
        self._on_error("unavailable")
        with self._lock:
            self._down_until = time.monotonic() + self._backoff
            log.warning("ledger fault (%s); retrying in %.1fs", what.splitlines()[0][:200], self._backoff)
            self._backoff = min(self._backoff * 2, LAST_BACKOFF)

    def _healed(self) -> None:
        with self._lock:
            self._backoff = FIRST_BACKOFF
            self._down_until = 0.0

    def run(self, call: Callable[[Ledger], T]) -> T:
        """``call(ledger)`` on a pooled ledger; Unavailable when the store is down."""
        with self._slots:
            ledger = self._take()
            try:
                result = call(ledger)
            except ReservationError:
                self._idle.put(ledger)
                raise
            except LedgerError as exc:
                # a lost connection is the store's fault without a probe: the ledger
                # reconnects by itself, so a probe right after the server came back would
                # call the loss the caller's (a 422)
                if not isinstance(exc, LedgerUnreachable) and self._works(ledger):
                    self._idle.put(ledger)
                    raise
                self._drop(ledger)
                self._fault(exc.message)
                raise Unavailable("the ledger is unreachable", self._backoff) from None
            except Exception as exc:  # a driver error the ledger did not translate
                if self._works(ledger):
                    self._idle.put(ledger)
                    raise
                self._drop(ledger)
                self._fault(type(exc).__name__)
                raise Unavailable("the ledger is unreachable", self._backoff) from None
            self._idle.put(ledger)
            self._healed()
            return result

    def _works(self, ledger: Ledger) -> bool:
        try:
            ledger.events("")
        except Exception:
            return False
        return True

    def _drop(self, ledger: Ledger) -> None:
        if ledger is self._memory:
            return  # nothing to close; the next _open hands out the same one
        # closing a broken connection may itself fail; it is gone either way
        with contextlib.suppress(Exception):
            ledger.close()

    def ready(self) -> bool:
        """Whether a trivial read works now."""
        try:
            self.run(lambda ledger: ledger.events(""))
        except (Unavailable, LedgerError):
            return False
        return True

    def close(self) -> None:
        while True:
            try:
                ledger = self._idle.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):
                ledger.close()
