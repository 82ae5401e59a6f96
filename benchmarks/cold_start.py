"""Cold start of one ``bs.fit`` (issue 13), with an estimate of its time on two idle cores.

Run in a fresh process with an empty compile cache (``_common`` points bayescale at a new one):
``python benchmarks/cold_start.py``. Prints one JSON line: import and cold time (process start to
posterior), CPU of all threads, and ``est_idle_2core``: each thread's CPU time is sampled every 0.1 s
and every interval is replayed on two idle cores (it takes the longer of its busiest thread's CPU and
half its total CPU). On a loaded machine the wall time says little; the estimate says what the same
work takes where two cores are free (for the build before issue 13 it gave 13.7 s on average at load
9-12, where a quiet run measured 13.9 s). Prints nothing to a results file: README, Performance.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_thread() -> dict:
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):
            pass
    return out


def main() -> dict:
    samples, stop = [], threading.Event()

    def monitor():
        while not stop.is_set():
            samples.append(_cpu_by_thread())
            time.sleep(0.1)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import load_data  # first: it points bayescale at a new, empty compile cache

    import bayescale as bs

    t_import = time.perf_counter() - _T0

    _, data = load_data("auto")
    fit = bs.fit(data, seed=0, progress_bar=False, warn=False)
    cold = time.perf_counter() - _T0
    stop.set()
    mon.join()
    samples.append(_cpu_by_thread())
    total = idle2 = 0.0
    prev: dict = {}
    for s in samples:
        delta = [v - prev.get(t, 0.0) for t, v in s.items() if t != str(mon.native_id)]
        prev = s
        busy = [d for d in delta if d > 0]
        if busy:
            total += sum(busy)
            idle2 += max(max(busy), sum(busy) / 2)
    out = {"import_s": round(t_import, 2), "cold_s": round(cold, 2), "cpu_s": round(total, 2),
           "est_idle_2core_s": round(idle2, 2), "load_average": os.getloadavg()[0],
           "extra_draws_per_chain": fit.extra_draws_per_chain}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
