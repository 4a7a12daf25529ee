"""Known-good stacks for this machine's GPU and driver, written as conda, Docker or pip
recipes. Every choice comes from the knowledge base and says why."""

from __future__ import annotations

from pathlib import Path

from .. import knowledge

KINDS = ("conda", "docker", "pip")
STACKS = ("tensorrt", "tf-trt")


class RecipeError(Exception):
    pass


def choose(snapshot: dict, stack: str = "tensorrt", tensorrt: str | None = None, python: str | None = None) -> dict:
    """Pick CUDA major, TensorRT (and TF) versions and a base image for this machine."""
    if stack not in STACKS:
        raise RecipeError(f"unknown --stack {stack!r}: use {' or '.join(STACKS)}")
    drv = (snapshot.get("driver") or {}).get("version")
    gpus = (snapshot.get("gpus") or {}).get("devices") or []
    ccs = [knowledge.cc_tuple(g.get("compute_capability")) for g in gpus if g.get("compute_capability")]
    low_cc = min(ccs) if ccs else None
    why = []
    max_cuda = knowledge.max_cuda_for_driver(drv) if drv else None
    if drv:
        why.append(f"driver {drv} supports CUDA ≤ {max_cuda}")
    else:
        why.append("no driver found: assuming a current driver (r580+, CUDA 13)")
        max_cuda = "13.0"
    if max_cuda is None:
        raise RecipeError(f"driver {drv} is older than every CUDA release trtdoctor knows: upgrade the driver first")
    cuda_major = knowledge.major_minor(max_cuda)[0]
    pip_rows = knowledge.load("tensorrt")["pip_installs"]
    if stack == "tf-trt":
        tf = knowledge.tf_release("2.17")
        if cuda_major < 12:
            raise RecipeError(f"TF-TRT with TF 2.17 needs CUDA 12 (driver ≥ 525.60.13); this driver supports CUDA ≤ {max_cuda}")
        why.append("TF-TRT needs TF ≤ 2.17 (2.18+ has no TensorRT support): TF 2.17.1 with TensorRT 8.6.1 on CUDA 12")
        choice = {"stack": stack, "cuda_major": 12, "tensorrt": "8.6.1", "tensorflow": "2.17.1", "python": python or "3.11", "cudnn": tf["cudnn"], "driver_min": "525.60.13"}
    else:
        major = min(cuda_major, 13)
        if tensorrt:
            trt = tensorrt
            row = knowledge.trt_release(trt)
            if row is None:
                raise RecipeError(f"TensorRT {tensorrt} is not in the knowledge base")
            majors = [knowledge.major_minor(c)[0] for c in row["cuda"]]
            if major not in majors:
                fitting = [m for m in majors if m <= cuda_major]
                if not fitting:
                    raise RecipeError(f"TensorRT {tensorrt} needs CUDA {', '.join(row['cuda'])}; the driver supports ≤ {max_cuda}")
                major = max(fitting)
        else:
            trt = pip_rows[str(major)]["tensorrt"] if str(major) in pip_rows else "8.6.1"
        if low_cc and low_cc < (7, 0):
            why.append(f"compute capability {low_cc[0]}.{low_cc[1]} (Pascal) is dropped by TensorRT 10: TensorRT 8.6.1 on CUDA 11/12")
            trt, major = "8.6.1", min(major, 12)
        elif low_cc and low_cc < (7, 5) and knowledge.parse_version(trt) >= knowledge.parse_version("10.5"):
            why.append("Volta (7.0) is dropped by TensorRT 10.5: TensorRT 10.3")
            trt, major = "10.3.0", 12
        why.append(f"TensorRT {trt} for CUDA {major}")
        min_drv = knowledge.compat_min_driver(major)["driver"]
        choice = {"stack": stack, "cuda_major": major, "tensorrt": trt, "tensorflow": None, "python": python or "3.12", "driver_min": min_drv}
    choice["why"] = why
    choice["gpus"] = [f"{g.get('name')} (sm_{(g.get('compute_capability') or '?').replace('.', '')})" for g in gpus]
    choice["image"], choice["image_tensorrt"] = _image(choice, drv)
    return choice


def _image(choice: dict, drv: str | None) -> tuple[str, str | None]:
    """The newest NGC image of the chosen CUDA major; minor-version compatibility lets a
    driver of that major's floor run it."""
    if choice["stack"] == "tf-trt":
        row = knowledge.load("containers")["ngc_tensorflow_tftrt"][0]
        return f"nvcr.io/nvidia/tensorflow:{row['tag']}", row["tensorrt"]
    if choice["tensorrt"].startswith(("8.", "10.3")):
        return f"nvidia/cuda:{'12.4.1' if choice['cuda_major'] >= 12 else '11.8.0'}-cudnn-runtime-ubuntu22.04", None
    for row in knowledge.load("containers")["ngc_tensorrt"]:
        if knowledge.major_minor(row["cuda"])[0] == choice["cuda_major"]:
            return f"nvcr.io/nvidia/tensorrt:{row['tag']}", row["tensorrt"]
    return f"nvidia/cuda:{'13.0.2' if choice['cuda_major'] == 13 else '12.4.1'}-cudnn-runtime-ubuntu24.04", None


def _header(choice: dict, kind: str, comment: str = "#") -> str:
    params = f"kind={kind} stack={choice['stack']} cuda={choice['cuda_major']} tensorrt={choice['tensorrt']} python={choice['python']}"
    lines = [
        f"trtdoctor recipe: {params}",
        f"Driver minimum: {choice['driver_min']} (CUDA {choice['cuda_major']}.x)",
        "GPUs: " + ("compute capability ≥ 5.0 (TensorRT 8.6)" if choice["tensorrt"].startswith("8.") else "Turing (sm_75) or newer" if not choice["tensorrt"].startswith("10.3") else "Volta (sm_70) or newer"),
        "Why: " + "; ".join(choice["why"]),
    ]
    return "".join(f"{comment} {ln}\n" for ln in lines)


def pip_install_command(choice: dict) -> str:
    """One pip command line for the chosen TensorRT, all parts pinned, NVIDIA's index named."""
    return "pip install --extra-index-url https://pypi.nvidia.com " + " ".join(_pip_lines(choice))


def _pip_lines(choice: dict) -> list[str]:
    v, cu = choice["tensorrt"], choice["cuda_major"]
    if v.startswith("8."):
        return [f"tensorrt=={v}", f"tensorrt-libs=={v}", f"tensorrt-bindings=={v}"]
    return [f"tensorrt-cu{cu}=={v}", f"tensorrt-cu{cu}-bindings=={v}", f"tensorrt-cu{cu}-libs=={v}"]


def render(kind: str, choice: dict) -> dict[str, str]:
    """File name -> text for one recipe."""
    if kind not in KINDS:
        raise RecipeError(f"unknown --recipe {kind!r}: use {', '.join(KINDS)}")
    trt = _pip_lines(choice)
    tf = [f"tensorflow=={choice['tensorflow']}"] if choice.get("tensorflow") else []
    if kind == "pip":
        req = _header(choice, kind) + "--extra-index-url https://pypi.nvidia.com\n" + "".join(f"{x}\n" for x in tf + trt) + "onnx\nnumpy\n"
        cons = _header(choice, kind) + "".join(f"{x}\n" for x in tf + trt)
        return {"requirements.txt": req, "constraints.txt": cons}
    if kind == "conda":
        body = (
            _header(choice, kind)
            + f"name: trt-{choice['stack']}-cu{choice['cuda_major']}\nchannels:\n  - conda-forge\ndependencies:\n  - python={choice['python']}\n  - pip\n  - pip:\n"
            + "    - --extra-index-url https://pypi.nvidia.com\n"
            + "".join(f"    - {x}\n" for x in tf + trt)
            + "    - onnx\n"
            + "# conda does not expand variables in env config: after `conda activate`, run\n"
            + "# `trtdoctor fix --write-env` to put tensorrt_libs on LD_LIBRARY_PATH (activation hook).\n"
        )
        return {"environment.yml": body}
    pip_install = "python3 -m pip install --no-cache-dir --extra-index-url https://pypi.nvidia.com " + " ".join(tf + trt)
    if choice.get("image_tensorrt"):  # TensorRT comes with the NGC image
        pip_install = "python3 -m pip install --no-cache-dir onnx"
        choice = dict(choice, tensorrt=choice["image_tensorrt"], why=[*choice["why"], f"{choice['image']} ships TensorRT {choice['image_tensorrt']}"])
    module = "tensorflow" if choice["stack"] == "tf-trt" else "tensorrt"
    body = _header(choice, kind) + f'FROM {choice["image"]}\nRUN {pip_install}\nCMD ["python3", "-c", "import {module}; print({module}.__version__)"]\n'
    return {"Dockerfile": body}


def default_folder(kind: str, choice: dict) -> str:
    """A new folder named after the stack, so a project's own files are never in the way."""
    return f"trt-{choice['stack']}-cu{choice['cuda_major']}-{kind}"


def write(texts: dict[str, str], out: Path, force: bool = False) -> list[str]:
    """Through the same backed-up, atomic, locked writer as --write-env; a file there that
    trtdoctor did not write is refused unless ``force``. Returns what was done, line by line."""
    from . import FixError
    from . import files as safe
    from .writers import Change, WritePlan

    there = next(d for d in (out.absolute(), *out.absolute().parents) if d.exists())
    if not there.is_dir():
        raise RecipeError(f"--out {out}: {there} is a file, not a folder: name a folder (it is created if missing)")
    safe.refuse_kernel_fs(out)
    changes = []
    for name, text in texts.items():
        path = safe.through_link(out / name)
        old = safe.read(path)
        if old is not None and not force and not _ours(old.data):
            raise RecipeError(f"{path} exists and was not written by trtdoctor; choose another --out, or pass --force to replace it (a backup is kept)")
        changes.append(Change(path, old, text.encode(), make_parents=True, option="--out"))
    try:
        return WritePlan(changes).apply()
    except FixError as exc:
        raise RecipeError(str(exc)) from None


def _ours(data: bytes) -> bool:
    return b"trtdoctor recipe:" in data[:4096]


def params_from_header(text: str) -> dict:
    first = next(ln for ln in text.splitlines() if "trtdoctor recipe:" in ln)
    return dict(kv.split("=", 1) for kv in first.split("trtdoctor recipe:", 1)[1].split())
