"""One cell of a smoke: the engine of one precision (built once, whatever the batches), and
one batch run on it. Kept apart from the runner so a GPU test can drive ``run_cell`` with a
loaded engine and its own feeds, and so INT8 can hand ``build_cell`` a calibrator."""

from __future__ import annotations

import time
from pathlib import Path

from .backends import SmokeError, save_engine
from .inputs import BadInput


def build_cell(be, model, precision: str, profile, cache: Path, meta: dict, calibrator=None, workspace_mib: int | None = None) -> dict:
    """Build and save one engine; returns the report's ``build`` section and the plan.
    ``meta``: the sidecar's fields other than precision, strong typing and time."""
    built = be.build(model, precision, profile, cache, calibrator, workspace_mib=workspace_mib)
    side = meta | {"precision": precision, "strongly_typed": built["strongly_typed"], "built_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    path = save_engine(built["plan"], side, cache)
    section = {
        "precision": precision,
        "seconds": round(built["build_s"], 3),
        "engine_bytes": built["engine_bytes"],
        "engine": str(path),
        "flags": built["flags"],
        "strongly_typed": built["strongly_typed"],
        "warnings": built["warnings"],
    }
    if workspace_mib is not None:
        section["workspace_mib"] = workspace_mib
    if built.get("log") is not None:
        section["log"] = built["log"]
    return {"build": section, "plan": built["plan"]}


def engine_feeds(feeds: dict, input_dtype: str) -> dict:
    """A strongly typed FP16 graph takes FP16 inputs: cast the float32 feeds to them."""
    import numpy as np

    return {k: v.astype(np.float16) if input_dtype == "float16" and v.dtype == np.float32 else v for k, v in feeds.items()}


def run_cell(trt, engine, feeds: dict, outputs: list[str], ref: list, precision: str, opts: dict, baseline_ms: float | None = None) -> dict:
    """Run one batch on a loaded engine: the measured row (its ``validation`` and
    ``benchmark`` sections for a single-cell report ride along under those keys)."""
    from .cuda_run import run_engine
    from .inputs import batch_of
    from .stats import summarize, warnings_for
    from .validate import compare_all

    res = run_engine(trt, engine, feeds, outputs, opts["iterations"], opts["warmup"], opts["no_transfers"], opts["cuda_graph"], device=opts.get("device", 0))
    val = compare_all(res["outputs"], ref, precision)
    gpu, e2e = summarize(res["gpu_ms"]), summarize(res["e2e_ms"])
    enq = summarize(res["enqueue_ms"])["median"]
    xfer = summarize(res["transfer_ms"])["median"] if res["transfer_ms"] else None
    bench = {
        "gpu_ms": gpu,
        "e2e_ms": e2e,
        "throughput_items_per_s": batch_of(feeds) * 1e3 / e2e["median"],
        "speedup_vs_baseline": baseline_ms / e2e["median"] if baseline_ms else 0.0,
        "warnings": res["notes"] + warnings_for(gpu, e2e, enq, xfer),
        "cuda_binding": res["binding"],
        "cuda_graph": res["cuda_graph"],
    }
    row = {"passed": bool(val["passed"]), "accuracy": val} | bench
    if not val["passed"]:
        row["reason"] = f"outputs differ from the baseline beyond {precision} tolerance: cosine {val['cosine']:.5f}, top-1 {val['top1_agreement']:.3f}, max abs {val['max_abs_error']:.4f}"
    return row


def failed(precision: str, batch: int, reason: str) -> dict:
    return {"precision": precision, "batch": batch, "passed": False, "reason": reason}


def guard(fn, *args, **kw):
    """``fn``'s result, or the SmokeError's message: one cell's failure stops that cell only."""
    try:
        return fn(*args, **kw), None
    except BadInput:
        raise
    except SmokeError as exc:
        return None, str(exc)
