"""Run probes concurrently: each starts as soon as the probes it reads have finished.

Probe ``i`` waits for the probes listed before it that write an area in its ``needs``, and for
those that write its own area (a merge phase runs after the probe that wrote the area first).
Only earlier ones count: the list is in an order a one-by-one run could use, so the waits form
no cycle (``libraries`` needs TensorFlow's static facts; TensorFlow's live phase needs ``libraries``).

Every probe reads a copy of the snapshot as it was when it started, and only its return value
is written back, under a lock: a merge phase works on its own deep copy of the area and
replaces it, so nobody ever sees an area half-updated.
"""

from __future__ import annotations

import copy
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Optional

TICK = 0.25  # seconds between progress calls
MAX_WORKERS = 8


def waits_for(probes: list) -> list[set[int]]:
    """For each probe, the indices of the probes that must finish before it starts."""
    return [{j for j in range(i) if probes[j].area in p.needs or probes[j].area == p.area} for i, p in enumerate(probes)]


def run_probes(target, probes: list, snap: dict, progress: Optional[Callable[[list, float], None]] = None) -> None:
    """Run ``probes`` (``Probe`` objects) into ``snap``. A probe that raises becomes
    ``{"error": "could not collect: ..."}``; ``snap["_timings"][area]`` is the seconds its
    probes took. ``progress(running_areas, elapsed)`` is called about every ``TICK`` seconds
    while probes run, ``elapsed`` counting from the start."""
    timings = snap.setdefault("_timings", {})
    lock = threading.Lock()

    def call(probe) -> None:
        with lock:
            view = dict(snap)
            if probe.merge and isinstance(view.get(probe.area), dict):
                view[probe.area] = copy.deepcopy(view[probe.area])
        t0 = time.perf_counter()
        try:
            data = probe.fn(target, view)
        except Exception as exc:  # a probe must never abort the run
            data = {"error": f"could not collect: {type(exc).__name__}: {exc}"}
        took = time.perf_counter() - t0
        with lock:
            old = snap.get(probe.area)
            snap[probe.area] = {**old, **data} if probe.merge and isinstance(old, dict) and isinstance(data, dict) else data
            timings[probe.area] = round(timings.get(probe.area, 0) + took, 4)

    deps = waits_for(probes)
    waiting, done = set(range(len(probes))), set()
    running: dict[Future, int] = {}
    start = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=max(1, min(MAX_WORKERS, len(probes))), thread_name_prefix="probe")
    try:
        while waiting or running:
            for i in sorted(waiting):
                if deps[i] <= done:
                    waiting.discard(i)
                    running[pool.submit(call, probes[i])] = i
            finished, _ = wait(running, timeout=TICK, return_when=FIRST_COMPLETED)
            for f in finished:
                done.add(running.pop(f))
                f.result()  # call() catches what a probe raises; anything else is ours and must surface
            if progress and running:
                progress(sorted({probes[i].area for i in running.values()}), time.monotonic() - start)
    finally:
        # On Ctrl-C do not wait for running probes: the caller kills their children.
        pool.shutdown(wait=not running, cancel_futures=True)
