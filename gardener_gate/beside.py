"""Running one piece of work in a second process while this one works on.

The child is forked, so it starts at once with everything this process
has loaded and built (compiled patterns, rules, options), and nothing but
its result crosses between the two, pickled through a pipe.
"""

from __future__ import annotations

__all__ = [
    "Beside",
    "Held",
    "can_fork",
    "held_logs",
    "release",
]

import contextlib
import logging
import multiprocessing
import os
import threading
import traceback
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


def can_fork() -> bool:
    """Whether work can run in a forked child here and now.

    Not where fork is missing, and not beside other threads (a server in
    a test, a client's pool): a forked child gets only the thread that
    forked, and locks other threads held stay held in it.
    """
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and (os.cpu_count() or 1) > 1
        and not _other_threads()
    )


def _other_threads() -> bool:
    return threading.active_count() > 1


class Beside(Generic[T]):
    """``work`` started in a forked child; ``result()`` waits for it.

    Where no child can be forked, the work runs when its result is asked
    for. A child that fails or dies gives None, and says why in the log.
    """

    def __init__(self, work: Callable[[], T | None]) -> None:
        self._work = work
        self._done = False
        self._value: T | None = None
        self._receive: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        if not can_fork():
            return
        context = multiprocessing.get_context("fork")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child, args=(work, send), daemon=True
        )
        self._process.start()
        send.close()

    def ready(self) -> bool:
        """Whether the child has given its result (or ended), at once."""
        if self._done or self._receive is None:
            return self._done
        try:
            return self._receive.poll()
        except OSError:
            return True

    def result(self) -> T | None:
        """The work's result, or None if the child gave none."""
        if self._done:
            return self._value
        self._done = True
        if self._process is None or self._receive is None:
            self._value = self._work()
            return self._value
        try:
            self._value = self._receive.recv()
        except (EOFError, OSError):
            logger.debug("the second process ended without a result")
        finally:
            self._receive.close()
            self._process.join()
        return self._value


Held = list[tuple[str, int, str]]


class _Holder(logging.Handler):
    def __init__(self, held: Held) -> None:
        super().__init__()
        self.held = held

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message += (
                "\n"
                + "".join(
                    traceback.format_exception(*record.exc_info)
                ).rstrip()
            )
        self.held.append((record.name, record.levelno, message))


@contextlib.contextmanager
def held_logs() -> Iterator[Held]:
    """Hold what the gate logs instead of writing it out.

    The caller writes the held lines out with ``release`` when the work
    they tell of stands, or drops them when it is done again.
    """
    root = logging.getLogger("gardener_gate")
    held: Held = []
    saved = root.handlers[:]
    root.handlers[:] = [_Holder(held)]
    try:
        yield held
    finally:
        root.handlers[:] = saved


def release(held: Held) -> None:
    """Write out lines held by ``held_logs``, as they were logged."""
    for name, level, message in held:
        logging.getLogger(name).log(level, "%s", message)


def _child(work: Callable[[], object], send: Connection) -> None:
    # Whatever fails here fails again, and is reported as it should be,
    # when the caller falls back to doing the work itself.
    try:
        send.send(work())
    except Exception:  # noqa: BLE001 - see above
        logger.debug("the second process failed", exc_info=True)
        send.send(None)
    finally:
        send.close()
