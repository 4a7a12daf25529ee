#!/usr/bin/env python3
"""Regenerate the curated recipes in envs/ with `trtdoctor fix --recipe`'s own code.

Each recipe is made for a machine whose driver is the floor of its CUDA major, so the
files are reproducible; tests/test_fix.py checks they still match.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from trtdoctor import knowledge  # noqa: E402
from trtdoctor.fix import recipes  # noqa: E402

SPECS = [
    # (folder, kind, stack, cuda major of the machine's driver, --tensorrt)
    ("tensorrt10-cuda12-pip", "pip", "tensorrt", 12, None),
    ("tensorrt10-cuda13-pip", "pip", "tensorrt", 13, None),
    ("tensorrt11-cuda13-pip", "pip", "tensorrt", 13, "11.4.0.106"),
    ("tftrt-tf217-trt86-conda", "conda", "tf-trt", 12, None),
    ("docker-tensorrt-cuda13", "docker", "tensorrt", 13, None),
    ("docker-tftrt-tf2", "docker", "tf-trt", 12, None),
]


def snapshot_for(cuda_major: int) -> dict:
    return {"driver": {"version": knowledge.compat_min_driver(cuda_major)["driver"]}, "gpus": {"devices": []}}


def generate() -> dict[str, dict[str, str]]:
    out = {}
    for folder, kind, stack, major, trt in SPECS:
        choice = recipes.choose(snapshot_for(major), stack, trt)
        out[folder] = recipes.render(kind, choice)
    return out


if __name__ == "__main__":
    for folder, files in generate().items():
        d = REPO / "envs" / folder
        d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (d / name).write_text(text)
            print(f"wrote {d / name}")
