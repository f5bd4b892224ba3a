"""Running one piece of work in a second process while this one works on.

The child is forked, so it starts at once with everything this process
has loaded and built (compiled patterns, rules, options), and nothing but
its result crosses between the two, pickled through a pipe.
"""

from __future__ import annotations

__all__ = [
    "Beside",
    "can_fork",
]

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
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

    def result(self) -> T | None:
        """The work's result, or None if the child gave none."""
        if self._process is None or self._receive is None:
            return self._work()
        try:
            value: T | None = self._receive.recv()
        except (EOFError, OSError):
            logger.info("the second process ended without a result")
            value = None
        finally:
            self._receive.close()
            self._process.join()
        return value


def _child(work: Callable[[], object], send: Connection) -> None:
    # Whatever fails here fails again, and is reported as it should be,
    # when the caller falls back to doing the work itself.
    try:
        send.send(work())
    except Exception:  # noqa: BLE001 - see above
        logger.info("the second process failed", exc_info=True)
        send.send(None)
    finally:
        send.close()
