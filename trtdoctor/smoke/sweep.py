"""Sweeps: ``--batch 1,10,32`` and ``--precision fp32,fp16,int8``. The lists as the command
line takes them, the shapes and feeds of each batch inside the one profile every engine is
built with, the speed-ups between rows, and the aligned table. No numpy at import: the
command line parses its lists with this module."""

from __future__ import annotations

import argparse

PRECISIONS = ("fp32", "fp16", "int8", "best")


def _items(text: str, what: str) -> list[str]:
    parts = [p.strip() for p in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"an empty item in the {what} list {text[:40]!r}")
    if len(set(parts)) != len(parts):
        raise argparse.ArgumentTypeError(f"the {what} list {text[:40]!r} names an item twice")
    return parts


def parse_batches(text: str) -> list[int]:
    """``8`` or ``1,10,32``: whole numbers of at least 1, each once."""
    out = []
    for p in _items(text, "batch"):
        if not p.isdigit() or int(p) < 1:
            raise argparse.ArgumentTypeError(f"expected whole numbers of at least 1, got {p[:20]!r}")
        out.append(int(p))
    if len(set(out)) != len(out):
        raise argparse.ArgumentTypeError(f"the batch list {text[:40]!r} names a batch twice")
    return out


def parse_precisions(text: str) -> list[str]:
    """``fp16`` or ``fp32,fp16,int8``; ``best`` is its own precision (FP16 and INT8 flags)."""
    out = [p.lower() for p in _items(text, "precision")]
    bad = [p for p in out if p not in PRECISIONS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown precision {bad[0][:20]!r} (choose from {', '.join(PRECISIONS)})")
    return out


def batched(specs) -> list:
    """The inputs whose first dim the model leaves open: the ones a batch size resizes."""
    return [s for s in specs if 0 in s.dynamic]


def check_covered(specs, profile, batches: list[int]) -> None:
    """Every batch of a sweep runs on one engine, so the profile must hold each of them."""
    from .inputs import BadInput

    open_ = batched(specs)
    if not open_:
        raise BadInput(f"--batch {','.join(map(str, batches))}: no input of the model has a dynamic first dim, so its batch cannot change")
    for s in open_:
        lo, _, hi = profile.shapes[s.name]
        out = [b for b in batches if not lo[0] <= b <= hi[0]]
        if out:
            raise BadInput(f"--batch {out[0]} is outside the profile of {s.name!r} (first dim {lo[0]}…{hi[0]} from --shapes or --min/--max-shapes); widen it or drop that batch")


def shapes_at(specs, profile, batch: int) -> dict[str, tuple[int, ...]]:
    """The profile's opt shapes with the open first dims set to ``batch``."""
    opt = profile.opt()
    grow = {s.name for s in batched(specs)}
    return {k: (batch, *v[1:]) if k in grow else v for k, v in opt.items()}


def feeds_at(prep, batch: int) -> dict:
    """Seeded random feeds of this batch, or the user's rows repeated or cut to it."""
    from .inputs import random_feeds

    shapes = shapes_at(prep.inputs, prep.profile, batch)
    if prep.feeds_from.startswith("random"):
        return random_feeds(prep.inputs, shapes)
    import numpy as np

    grow = {s.name for s in batched(prep.inputs)}
    return {k: np.take(v, np.arange(batch) % len(v), axis=0) if k in grow and v.ndim else v for k, v in prep.feeds.items()}


def add_speedups(rows: list[dict]) -> None:
    """``speedup_vs_fp32``: FP32 TensorRT's GPU median over this row's, at the same batch
    (GPU time: both engines get the same copies, so the kernels are what differ)."""
    fp32 = {r["batch"]: r["gpu_ms"]["median"] for r in rows if r["precision"] == "fp32" and r.get("gpu_ms")}
    for r in rows:
        base = fp32.get(r["batch"])
        if base and r.get("gpu_ms") and r["gpu_ms"]["median"]:
            r["speedup_vs_fp32"] = base / r["gpu_ms"]["median"]


COLUMNS = ("precision", "batch", "gpu med", "p90", "p99", "e2e med", "items/s", "cosine", "top-1", "max abs", "engine", "build s", "×base", "×fp32")


def _cells(r: dict) -> list[str]:
    head = [r["precision"], str(r["batch"])]
    fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
    if not r.get("gpu_ms"):  # failed before it was timed: what its build gave, if it got that far
        return head + ["—"] * (len(COLUMNS) - 6) + [_size(r.get("engine_bytes")), fmt(r.get("build_seconds"), ".1f"), "—", "—"]
    g, a = r["gpu_ms"], r.get("accuracy") or {}
    return head + [
        fmt(g["median"], ".3f"),
        fmt(g["p90"], ".3f"),
        fmt(g["p99"], ".3f"),
        fmt(r["e2e_ms"]["median"], ".3f"),
        fmt(r.get("throughput_items_per_s"), ".1f"),
        fmt(a.get("cosine"), ".5f"),
        fmt(a.get("top1_agreement"), ".3f"),
        fmt(a.get("max_abs_error"), ".3g"),
        _size(r.get("engine_bytes")),
        fmt(r.get("build_seconds"), ".1f"),
        fmt(r.get("speedup_vs_baseline"), ".2f"),
        fmt(r.get("speedup_vs_fp32"), ".2f"),
    ]


def _size(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "—"


def table_text(rows: list[dict]) -> list[str]:
    """One aligned line per cell (ms for times); a failed cell's reason follows its row, once
    (an engine that does not load fails every batch with the same words)."""
    grid = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(COLUMNS))]
    out, said = [], None
    for i, line in enumerate(grid):
        out.append("  " + "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths))).rstrip())
        r = rows[i - 1] if i else None
        if r and r.get("reason"):
            out.append(f"      ✗ {r['reason'] if r['reason'] != said else '(the same as above)'}")
            said = r["reason"]
        if r:
            out += [f"      ! {w}" for w in r.get("warnings", [])]
    out.append("  (times in ms; ×base: the baseline's end-to-end median over ours; ×fp32: FP32 TensorRT's GPU median over ours)")
    return out
