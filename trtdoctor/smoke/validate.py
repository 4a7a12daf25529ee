"""Compare an engine's outputs with a trusted baseline, with tolerances per precision."""

from __future__ import annotations

TOLERANCES = {
    "fp32": {"cosine": 0.9999, "top1": 0.99, "max_abs": 1e-2},
    "tf32": {"cosine": 0.999, "top1": 0.98, "max_abs": 5e-2},
    "fp16": {"cosine": 0.999, "top1": 0.95, "max_abs": 1e-1},
    "best": {"cosine": 0.99, "top1": 0.90, "max_abs": 5e-1},
    "int8": {"cosine": 0.98, "top1": 0.80, "max_abs": 1.0},
}


def compare(out, ref, precision: str) -> dict:
    import numpy as np

    a = np.asarray(out, dtype=np.float64).reshape(len(ref), -1)
    b = np.asarray(ref, dtype=np.float64).reshape(len(ref), -1)
    max_abs = float(np.max(np.abs(a - b)))
    cos = float(np.mean(np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)))
    top1 = float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))
    tol = TOLERANCES[precision]
    ok = cos >= tol["cosine"] and top1 >= tol["top1"] and max_abs <= tol["max_abs"]
    return {"max_abs_error": max_abs, "cosine": cos, "top1_agreement": top1, "tolerance": tol, "passed": bool(ok)}


def compare_all(outs: list, refs: list, precision: str) -> dict:
    """Every float output against its reference; the worst figure of each kind is reported."""
    import numpy as np

    rows = [compare(o, r, precision) for o, r in zip(outs, refs) if np.asarray(r).dtype.kind == "f" and np.asarray(r).ndim]
    if not rows:  # integer outputs (argmax, ids): they must match exactly
        same = all(np.array_equal(np.asarray(o), np.asarray(r)) for o, r in zip(outs, refs))
        return {"max_abs_error": 0.0 if same else float("inf"), "cosine": 1.0 if same else 0.0, "top1_agreement": 1.0 if same else 0.0, "tolerance": TOLERANCES[precision], "passed": same}
    return {
        "max_abs_error": max(r["max_abs_error"] for r in rows),
        "cosine": min(r["cosine"] for r in rows),
        "top1_agreement": min(r["top1_agreement"] for r in rows),
        "tolerance": TOLERANCES[precision],
        "passed": all(r["passed"] for r in rows),
    }
