"""Known-good stacks for this machine's GPU and driver, written as conda, Docker or pip
recipes. Every choice comes from the knowledge base and says why."""

from __future__ import annotations

from pathlib import Path

from .. import knowledge
from ..shell import quote

KINDS = ("conda", "docker", "pip")
STACKS = ("tensorrt", "tf-trt")
INDEX = "--extra-index-url https://pypi.nvidia.com"


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
    max_cuda = knowledge.max_cuda_for_driver(drv) if drv else None
    why = [f"driver {drv} supports CUDA ≤ {max_cuda}" if drv else "no driver found: assuming a current driver (any CUDA major the knowledge base has pins for)"]
    if drv and max_cuda is None:
        raise RecipeError(f"driver {drv} is older than every CUDA release trtdoctor knows: upgrade the driver first")
    cuda_max = knowledge.major_minor(max_cuda)[0] if max_cuda else None
    choice = _tftrt(cuda_max, python, why) if stack == "tf-trt" else _tensorrt(cuda_max, low_cc, tensorrt, python, why)
    choice["driver_min"] = knowledge.compat_min_driver(choice["cuda_major"])["driver"]
    choice["why"] = why
    choice["gpus"] = [f"{g.get('name')} (sm_{(g.get('compute_capability') or '?').replace('.', '')})" for g in gpus]
    choice["image"], choice["image_tensorrt"] = _image(choice, low_cc)
    return choice


def _tftrt(cuda_max: int | None, python: str | None, why: list[str]) -> dict:
    """The last TensorFlow with TF-TRT, with the TensorRT its pip build links."""
    tf = knowledge.tftrt_release()
    cuda = knowledge.major_minor(tf["cuda"])[0]
    pins = knowledge.pip_installs(cuda_max=cuda, trt_major=knowledge.major_minor(tf["trt"])[0])
    pins = [r for r in pins if r["tensorrt"] == tf["trt"] and int(r["cuda"]) == cuda]
    if (cuda_max is not None and cuda_max < cuda) or not pins:
        raise RecipeError(f"TF-TRT with TF {tf['series']} needs CUDA {cuda} (driver ≥ {knowledge.compat_min_driver(cuda)['driver']}); this driver supports CUDA ≤ {cuda_max}")
    why.append(f"TF-TRT needs TF ≤ {tf['series']} (later pip builds have no TensorRT support): TF {tf['pip']} with TensorRT {tf['trt']} on CUDA {cuda}")
    return {"stack": "tf-trt", "cuda_major": cuda, "tensorrt": tf["trt"], "tensorflow": tf["pip"], "python": python or knowledge.newest_python(tf["python"], pins[0]["python"]), "cudnn": tf["cudnn"]}


def _tensorrt(cuda_max: int | None, low_cc: tuple | None, tensorrt: str | None, python: str | None, why: list[str]) -> dict:
    """The first kb pip install that fits the driver, the GPUs and the Python (or the one asked for)."""
    if tensorrt:
        return _asked(cuda_max, tensorrt, python, why)
    rows = knowledge.pip_installs(cuda_max=cuda_max, cc=low_cc, python=python)
    if not rows:
        raise RecipeError(f"no pip TensorRT in the knowledge base fits CUDA ≤ {cuda_max}, compute capability {low_cc} and Python {python or 'any'}")
    row, default = rows[0], knowledge.pip_installs(cuda_max=cuda_max, python=python)
    if low_cc and default and default[0] is not row:
        min_cc = knowledge.trt_release(default[0]["tensorrt"])["min_cc"]
        why.append(f"compute capability {low_cc[0]}.{low_cc[1]} is below TensorRT {default[0]['tensorrt']}'s minimum {min_cc}")
    why.append(f"TensorRT {row['tensorrt']} for CUDA {row['cuda']}: {row['why']}")
    return {"stack": "tensorrt", "cuda_major": int(row["cuda"]), "tensorrt": row["tensorrt"], "tensorflow": None, "python": python or row["python"][1], "pins": row}


def _asked(cuda_max: int | None, tensorrt: str, python: str | None, why: list[str]) -> dict:
    row = knowledge.trt_release(tensorrt)
    if row is None:
        raise RecipeError(f"TensorRT {tensorrt} is not in the knowledge base")
    majors = sorted({knowledge.major_minor(c)[0] for c in row["cuda"]})
    fitting = [m for m in majors if cuda_max is None or m <= cuda_max]
    if not fitting:
        raise RecipeError(f"TensorRT {tensorrt} needs CUDA {', '.join(row['cuda'])}; the driver supports ≤ {cuda_max}")
    why.append(f"TensorRT {tensorrt} for CUDA {fitting[-1]}")
    return {"stack": "tensorrt", "cuda_major": fitting[-1], "tensorrt": tensorrt, "tensorflow": None, "python": python or row["python"][1]}


def _image(choice: dict, low_cc: tuple | None) -> tuple[str, str | None]:
    """An NGC image that ships a TensorRT of the chosen major and CUDA major that runs on these
    GPUs (its TensorRT is used), else a plain CUDA base image whose Python the pins support."""
    if choice["stack"] == "tf-trt":
        row = knowledge.load("containers")["ngc_tensorflow_tftrt"][0]
        return f"nvcr.io/nvidia/tensorflow:{row['tag']}", row["tensorrt"]
    major = knowledge.major_minor(choice["tensorrt"])[0]
    for row in knowledge.load("containers")["ngc_tensorrt"]:
        rel = knowledge.trt_release(row["tensorrt"])
        if rel and knowledge.major_minor(row["cuda"])[0] == choice["cuda_major"] and knowledge.major_minor(row["tensorrt"])[0] == major:
            if not low_cc or knowledge.major_minor(rel["min_cc"]) <= low_cc:
                return f"nvcr.io/nvidia/tensorrt:{row['tag']}", row["tensorrt"]
    lo, hi = (choice.get("pins") or knowledge.trt_release(choice["tensorrt"]))["python"]
    for row in knowledge.load("tensorrt")["base_images"]:
        if int(row["cuda"]) == choice["cuda_major"] and knowledge.major_minor(lo) <= knowledge.major_minor(row["python"]) <= knowledge.major_minor(hi):
            return row["image"], None
    raise RecipeError(f"no base image in the knowledge base for CUDA {choice['cuda_major']} with a Python TensorRT {choice['tensorrt']} supports")


def _header(choice: dict, kind: str, comment: str = "#") -> str:
    params = f"kind={kind} stack={choice['stack']} cuda={choice['cuda_major']} tensorrt={choice['tensorrt']} python={choice['python']}"
    rel = knowledge.trt_release(choice["tensorrt"]) or {}
    lines = [
        f"trtdoctor recipe: {params}",
        f"Driver minimum: {choice['driver_min']} (CUDA {choice['cuda_major']}.x)",
        f"GPUs: compute capability ≥ {rel.get('min_cc', '?')} (TensorRT {rel.get('series', '?')})",
        "Why: " + "; ".join(choice["why"]),
    ]
    return "".join(f"{comment} {ln}\n" for ln in lines)


def pip_install_command(version: str, cuda: str | int | None, kind: str = "full") -> str:
    """One pip command line for a TensorRT release, all parts pinned, NVIDIA's index named."""
    return f"pip install {INDEX} " + " ".join(quote(p) for p in pip_pins(version, cuda, kind))


def pip_pins(version: str, cuda: str | int | None, kind: str = "full") -> list[str]:
    return [f"{name}=={version}" for name in knowledge.trt_pip_names(version, cuda, kind)]


def default_install(cuda: str | int | None = None, trt_major: int | None = None) -> str:
    """The kb's preferred pinned install of a TensorRT major and/or CUDA major."""
    rows = knowledge.pip_installs(cuda_max=int(cuda) if cuda else None, trt_major=trt_major)
    rows = [r for r in rows if not cuda or r["cuda"] == str(cuda)] or rows
    if not rows:
        return f"install a TensorRT built for CUDA {cuda or 'your driver'}: no pip build of it is known"
    return pip_install_command(rows[0]["tensorrt"], rows[0]["cuda"])


def tftrt_install() -> str:
    """TF-TRT's install: the last TensorFlow with TF-TRT, then the TensorRT its pip build links."""
    tf = knowledge.tftrt_release()
    return f"pip install {quote('tensorflow==' + tf['pip'])} && " + default_install(knowledge.major_minor(tf["cuda"])[0], knowledge.major_minor(tf["trt"])[0])


def render(kind: str, choice: dict) -> dict[str, str]:
    """File name -> text for one recipe."""
    if kind not in KINDS:
        raise RecipeError(f"unknown --recipe {kind!r}: use {', '.join(KINDS)}")
    trt = pip_pins(choice["tensorrt"], choice["cuda_major"])
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
