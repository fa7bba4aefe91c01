"""Mailers whose ``send`` is ``async def``: run on the portal's own event loop thread.

The core is synchronous and runs in worker threads (the FastAPI adapter's
pools, Flask's server threads), never on a request's event loop. An async
mailer's coroutines therefore run on one event loop the bridge owns, in a
daemon thread of its own, and the calling worker thread waits for the
outcome: the request's event loop is never blocked, and the coroutine is
always awaited, so an invitation is recorded ``sent`` only once the mailer
really finished. One loop for the mailer's lifetime also lets it keep an
``httpx.AsyncClient`` (or any loop-bound connection pool) between sends.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import MailDeliveryError, MailDeliveryUncertain
from .mail import OutgoingEmail

__all__ = ["AsyncMailerBridge", "is_async_mailer", "send_checked"]


def is_async_mailer(mailer: object) -> bool:
    """Whether ``mailer.send`` is an ``async def`` (a coroutine function)."""
    return inspect.iscoroutinefunction(getattr(mailer, "send", None))


def send_checked(send: Callable[[OutgoingEmail], Any], email: OutgoingEmail) -> None:
    """Call a synchronous ``send``; refuse an awaitable result instead of dropping it.

    A ``send`` that returns a coroutine without awaiting it (a sync wrapper
    around async code) has sent nothing: the coroutine is closed and the
    email counts as failed, never as sent.

    :raises MailDeliveryError: ``send`` returned an awaitable.
    """
    result = send(email)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()
        raise MailDeliveryError("the mailer returned without sending (an unawaited coroutine)")


class AsyncMailerBridge:
    """A synchronous mailer in front of one whose ``send`` is ``async def``.

    :param mailer: the async mailer; its coroutines all run on one loop.
    :param timeout: seconds a worker thread waits for one send before
        giving up; the send is then cancelled and reported as failed.
    """

    def __init__(self, mailer: Any, *, timeout: float = 60.0) -> None:
        self.mailer = mailer
        self.timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"AsyncMailerBridge({self.mailer!r})"

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="client-portal-async-mailer", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def send(self, email: OutgoingEmail) -> None:
        """Run ``mailer.send(email)`` on the bridge's loop and wait for it.

        :raises MailDeliveryError: the mailer's own.
        :raises MailDeliveryUncertain: it did not finish within ``timeout``.
        :raises RuntimeError: called on the bridge's own loop (a deadlock).
        """
        loop = self._running_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("AsyncMailerBridge.send called from its own event loop")
        coroutine: Awaitable[None] = self.mailer.send(email)
        future = asyncio.run_coroutine_threadsafe(_awaited(coroutine), loop)
        try:
            future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise MailDeliveryUncertain(
                "the mailer did not finish in time; the email may have been delivered"
            ) from None

    def close(self) -> None:
        """Stop the loop thread (after the sends in progress); sends restart it."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable
