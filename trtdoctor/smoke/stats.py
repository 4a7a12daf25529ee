"""Latency statistics and trtexec-style warnings."""

from __future__ import annotations

import math


def percentile(sorted_vals: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_vals:
        raise ValueError("no samples")
    pos = (len(sorted_vals) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (pos - lo)


def summarize(samples_ms: list[float]) -> dict:
    s = sorted(samples_ms)
    n = len(s)
    mean = sum(s) / n
    std = (sum((x - mean) ** 2 for x in s) / n) ** 0.5
    return {
        "n": n,
        "min": s[0],
        "mean": mean,
        "median": percentile(s, 50),
        "p90": percentile(s, 90),
        "p99": percentile(s, 99),
        "max": s[-1],
        "cv_percent": 100.0 * std / mean if mean else 0.0,
    }


def warnings_for(gpu: dict | None, e2e: dict, enqueue_ms: float | None = None, transfer_ms: float | None = None) -> list[str]:
    """trtexec's advice: enqueue-bound → CUDA graphs; transfer-bound → keep data on device;
    coefficient of variation over 1 % → unstable clocks or a busy machine."""
    out = []
    compute = (gpu or {}).get("median")
    if enqueue_ms is not None and compute and enqueue_ms > compute:
        out.append(f"enqueue-bound: host enqueue {enqueue_ms:.3f} ms > GPU compute {compute:.3f} ms; try --cuda-graph")
    if transfer_ms is not None and compute and transfer_ms > compute:
        out.append(f"transfer-bound: host↔device copies {transfer_ms:.3f} ms > GPU compute {compute:.3f} ms; try --no-transfers")
    advice = "lock clocks or close other GPU work" if gpu else "close other work on this machine"  # no GPU timing: a CPU run
    for name, st in (("GPU compute", gpu), ("end-to-end", e2e)):
        if st and st["cv_percent"] > 1.0:
            out.append(f"unstable: {name} coefficient of variation {st['cv_percent']:.1f} % > 1 %; {advice}")
    return out
