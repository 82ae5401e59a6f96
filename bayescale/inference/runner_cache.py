"""Compiled samplers kept for reuse, the least recently used dropped beyond a bound.

Every program XLA:CPU compiles holds its machine code in memory mappings of its own: measured with
jaxlib 0.10.2, one compiled NUTS sampler (its two programs) adds about 1,600 mappings to the process,
and Linux allows 65,530 by default (``vm.max_map_count``). A process that kept every sampler it ever
compiled (a backtest over many cutoffs, a test suite, a notebook fitting many shapes) died after some
40 of them: LLVM reported "Cannot allocate memory" and XLA crashed (a segmentation fault or an abort,
seen three times in one day in the test suite). Dropping the last reference to a compiled program
returns its mappings (2,415 -> 818 after one sampler, measured), so the caches of
:mod:`bayescale.inference.nuts` and :mod:`bayescale.inference.chees` keep at most a few samplers each;
a dropped one is compiled again when needed (quickly, from JAX's persistent compilation cache when on).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

__all__ = ["RunnerCache"]


class RunnerCache:
    """Built samplers by key, at most ``max_size``; :meth:`get` builds a missing one and makes it the most
    recently used, dropping the least recently used beyond the bound.

    Examples
    --------
    >>> cache = RunnerCache(max_size=2)
    >>> [cache.get(k, lambda: k.upper()) for k in ("a", "b", "a", "c")]
    ['A', 'B', 'A', 'C']
    >>> list(cache.keys())  # "b" was the least recently used
    ['a', 'c']
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        if key in self._items:
            self._items.move_to_end(key)
        else:
            self._items[key] = build()
            while len(self._items) > max(1, self.max_size):
                self._items.popitem(last=False)
        return self._items[key]

    def __getitem__(self, key: Any) -> Any:
        return self._items[key]

    def __contains__(self, key: Any) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self):
        return self._items.keys()

    def clear(self) -> None:
        self._items.clear()
