#!/usr/bin/env python3
"""What `trtdoctor smoke --export` prepares, and how close it stays to FP32, for the reference
model and for an NHWC user model shaped like a Keras export (``input_1``, batch profile
1 / 10 / 32): the FP32, FP16 and Q/DQ INT8 ONNX files, their onnxruntime accuracy against FP32
(cosine, top-1 agreement, max abs error), and the onnxruntime baseline's latency.

The user model is built here with onnx.helper (seeded weights, no pretrained model can be
fetched in this workplace): a stem, three conv/batch-norm/ReLU blocks and a dense head. INT8 is
calibrated on --calib-data drawn apart from the inputs it is judged on. Each case runs the real
CLI in a child process. Issue 13 asks for these figures in the note; no goal is asserted.

Run: python3 scripts/bench_export.py [--size 96] [--iterations 50]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def nhwc_classifier(path: Path, size: int) -> Path:
    """NHWC ``input_1`` [unk__0, size, size, 3] → Transpose → 3 × (Conv, BatchNorm, Relu) →
    GlobalAveragePool → Flatten → Gemm → ``predictions`` [unk__0, 10]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits, nodes, prev, cin = [], [helper.make_node("Transpose", ["input_1"], ["x0"], perm=[0, 3, 1, 2])], "x0", 3
    for i, cout in enumerate((16, 32, 64)):
        w = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / (cin * 9))).astype(np.float32)
        bn = [np.abs(rng.normal(1, 0.1, cout)), rng.normal(0, 0.1, cout), rng.normal(0, 0.1, cout), np.abs(rng.normal(1, 0.1, cout))]
        inits += [numpy_helper.from_array(w, f"conv{i}.w")] + [numpy_helper.from_array(a.astype(np.float32), f"bn{i}.{k}") for a, k in zip(bn, ("scale", "bias", "mean", "var"))]
        nodes += [
            helper.make_node("Conv", [prev, f"conv{i}.w"], [f"c{i}"], pads=[1, 1, 1, 1], strides=[2, 2]),
            helper.make_node("BatchNormalization", [f"c{i}"] + [f"bn{i}.{k}" for k in ("scale", "bias", "mean", "var")], [f"b{i}"]),
            helper.make_node("Relu", [f"b{i}"], [f"x{i + 1}"]),
        ]
        prev, cin = f"x{i + 1}", cout
    inits += [numpy_helper.from_array(rng.standard_normal((cin, 10)).astype(np.float32) * 0.2, "dense.w"), numpy_helper.from_array(np.zeros(10, np.float32), "dense.b")]
    nodes += [helper.make_node("GlobalAveragePool", [prev], ["pool"]), helper.make_node("Flatten", ["pool"], ["flat"]), helper.make_node("Gemm", ["flat", "dense.w", "dense.b"], ["predictions"])]
    graph = helper.make_graph(
        nodes,
        "keras_nhwc_classifier",
        [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, ["unk__0", size, size, 3])],
        [helper.make_tensor_value_info("predictions", TensorProto.FLOAT, ["unk__0", 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def export(work: Path, name: str, extra: list[str], iterations: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    argv = [sys.executable, "-m", "trtdoctor", "smoke", "--export", str(work / name), "--precision", "best", "--format", "json", "--iterations", str(iterations), "--warmup", "5", *extra]
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    if res.returncode not in (0, 1):
        raise SystemExit(f"{name}: exit {res.returncode}: {res.stderr.strip()[-500:]}")
    return json.loads(res.stdout)


def row(name: str, r: dict) -> list[str]:
    b = r["baseline"]
    out = [f"{name}: {r['result']}; baseline {b['name']} {b['version']} median {b['latency_ms']['median']:.3f} ms (p90 {b['latency_ms']['p90']:.3f})"]
    for f in r["export"]["files"]:
        acc = r["export"]["accuracy"].get(f["precision"])
        figures = f"cosine {acc['cosine']:.6f}, top-1 {acc['top1_agreement']:.3f}, max abs {acc['max_abs_error']:.4g}" if acc else "(the reference)"
        out.append(f"  {f['precision']:<5} {f['path']:<22} {f['bytes']:>9} bytes  {figures}")
    out += [f"  note: {n}" for n in r["export"]["notes"]] + [f"  ! {w}" for w in r["export"]["warnings"]]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=96, help="the user model's image side")
    ap.add_argument("--iterations", type=int, default=50)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="trtdoctor-bench-export-") as tmp:
        work = Path(tmp)
        model = nhwc_classifier(work / "user.onnx", a.size)
        rng = np.random.default_rng(11)
        np.savez(work / "calib.npz", input_1=rng.standard_normal((64, a.size, a.size, 3)).astype(np.float32))
        np.savez(work / "inputs.npz", input_1=np.random.default_rng(12).standard_normal((10, a.size, a.size, 3)).astype(np.float32))
        shapes = ["--min-shapes", f"input_1:1x{a.size}x{a.size}x3", "--opt-shapes", f"input_1:10x{a.size}x{a.size}x3", "--max-shapes", f"input_1:32x{a.size}x{a.size}x3"]
        cases = [
            ("reference (synthetic calibration)", export(work, "ref", [], a.iterations)),
            (
                f"user NHWC {a.size}x{a.size} (calib.npz: 64 samples)",
                export(work, "user", ["--model", str(model), *shapes, "--input-data", str(work / "inputs.npz"), "--calib-data", str(work / "calib.npz")], a.iterations),
            ),
        ]
        for name, r in cases:
            print("\n".join(row(name, r)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
