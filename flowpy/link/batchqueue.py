"""A bounded FIFO that takes and gives many items under one lock: the client's packet inbox.

The client's reader parses a whole socket read at once, often a hundred ``runtime:packet``
messages; putting them into a ``queue.Queue`` one by one takes its lock and signals its
condition per packet, and a consumer taking them one by one does the same again. This is a
``queue.Queue`` (so ``put``, ``get``, ``empty`` and the rest still work, one item at a time)
with :meth:`BatchQueue.put_many` and :meth:`BatchQueue.get_many`, which move a batch with
one lock and one signal.
"""

from __future__ import annotations

import queue
import threading
from typing import TypeVar

T = TypeVar("T")


class BatchQueue(queue.Queue[T]):
    """``queue.Queue`` plus moving many items at once (see the module docstring)."""

    def put_many(self, items: list[T], give_up: threading.Event, poll: float = 0.5) -> int:
        """Append ``items`` in order, waiting while the queue is full (so a slow consumer
        slows the producer); returns how many went in: all of them, unless ``give_up`` was
        set while waiting (checked every ``poll`` seconds)."""
        done, total = 0, len(items)
        with self.not_full:
            while done < total:
                room = self.maxsize - self._qsize() if self.maxsize > 0 else total - done
                if room <= 0:
                    if give_up.is_set():
                        break
                    self.not_full.wait(poll)
                    continue
                part = items[done : done + room] if done or room < total else items
                self.queue.extend(part)
                self.unfinished_tasks += len(part)
                done += len(part)
                self.not_empty.notify()
        return done

    def get_many(self, limit: int, timeout: float | None = None) -> list[T]:
        """Up to ``limit`` items, oldest first, once there is at least one; raises
        ``queue.Empty`` if none came within ``timeout`` seconds (None: wait for ever)."""
        with self.not_empty:
            if not self._qsize() and not self.not_empty.wait_for(self._qsize, timeout):
                raise queue.Empty
            take = self.queue.popleft
            items = [take() for _ in range(min(max(1, limit), self._qsize()))]
            self.not_full.notify()
            if self._qsize():
                self.not_empty.notify()  # another consumer may take the rest
            return items
