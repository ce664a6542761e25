"""Process-wide settings that suit a dataflow runtime, applied by the command line only.

CPython's cyclic garbage collector runs a young-generation pass every 700 allocations of
container objects. A network keeps thousands of IPs in flight, and every pass walks them
all, so with the default a batched pipeline spends about a third of its time in the
collector (bench/pipeline.py shows both settings). Raising the young threshold makes passes
rarer without letting garbage live long; freezing moves everything imported at start-up out
of the collector's view for good. This changes the whole process, so the library never does
it by itself: ``flowpy run`` and ``flowpy serve`` do, and an embedding application may call
``tune_gc()`` if it wants the same.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Rarer young-generation collections, and start-up objects frozen out of the collector."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.freeze()
