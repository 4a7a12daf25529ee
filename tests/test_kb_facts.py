"""One home for facts (issue 11): no version literal in rules/, fix/ or smoke/; every field of
every kb/*.yaml is read by code; tensorrt.yaml and tensorflow.yaml rows are typed and sourced;
recipes and fixes come from those rows."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from packaging.version import Version

from trtdoctor import knowledge
from trtdoctor.fix import recipes
from trtdoctor.rules import frameworks, libraries

PKG = Path(knowledge.__file__).parent
FACT_DIRS = ("rules", "fix", "smoke")
# A dotted version with a major >= 1 ("8.6.1", "2.18", "525.60.13", "10.3"), alone or inside
# text. Tolerances (0.999, 1e-2) are numbers, not strings, and "0.0" has major 0: not flagged.
VERSION = re.compile(r"(?<![\w.])[1-9]\d*\.\d+(\.\d+)*(?![\w.])")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def version_literals(source: str) -> list[str]:
    """String constants (f-string parts included) that hold a version; docstrings are allowed."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    return [f"line {n.lineno}: {n.value!r}" for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip and VERSION.search(n.value)]


def test_the_scan_flags_versions_and_leaves_tolerances_and_docstrings():
    flagged = version_literals('"""TensorRT 8.6.1 in a docstring is fine."""\nA = "tensorrt==8.6.1"\nB = f"TF ≥ {x} 2.18"\nC = {"cosine": 0.999}\nD = "sm_70"\nE = "0.0"\n')
    assert flagged == ["line 2: 'tensorrt==8.6.1'", "line 3: ' 2.18'"]
    assert version_literals('if v.startswith(("8.", "10.3")): pass\n') == ["line 1: '10.3'"]
    assert version_literals('x = "525.60.13"\n') and version_literals('x = "99.0.0 placeholder"\n')


@pytest.mark.parametrize("path", sorted(p for d in FACT_DIRS for p in (PKG / d).glob("*.py")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_version_literal_in_rules_fix_or_smoke(path):
    assert version_literals(path.read_text(encoding="utf-8")) == [], "facts live in trtdoctor/kb/*.yaml"


def _field_names(node, acc: set[str]) -> set[str]:
    """Mapping keys that name fields (identifiers). Keys that are data (sonames, compute
    capabilities, versions: libcudart.so.12, "8.6") are values of a table, not fields."""
    if isinstance(node, dict):
        for k, v in node.items():
            if re.fullmatch(r"[a-z_]+", str(k)):
                acc.add(str(k))
            _field_names(v, acc)
    elif isinstance(node, list):
        for v in node:
            _field_names(v, acc)
    return acc


def _code_strings() -> set[str]:
    out = set()
    for p in PKG.rglob("*.py"):
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.Constant) and isinstance(n.value, str):
                out.add(n.value)
    return out


@pytest.mark.parametrize("name", sorted(p.stem for p in knowledge.KB_DIR.glob("*.yaml")))
def test_every_kb_field_is_read_by_code(name):
    fields = _field_names(knowledge.load(name), set())
    unread = sorted(fields - _code_strings())
    assert not unread, f"kb/{name}.yaml fields no code reads (remove them, or read them): {unread}"


URL = re.compile(r"^https://\S+( \(.*?\))?$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _sourced(row: dict, where: str) -> None:
    parts = [p.strip() for p in str(row.get("source", "")).split(" ; ")]
    assert all(URL.match(p) for p in parts), f"{where}: source must be https URL(s) separated by ' ; ': {row.get('source')!r}"
    assert DATE.match(str(row.get("read", ""))), f"{where}: read must be a YYYY-MM-DD date"
    assert isinstance(row.get("verified"), bool), f"{where}: verified must be true or false"
    assert set(row.get("unverified") or []) <= set(row), f"{where}: unverified names fields the row lacks"


def _versions(*texts) -> None:
    for t in texts:
        Version(str(t))


TRT = knowledge.load("tensorrt")
TF = knowledge.load("tensorflow")


VARIANTS = [(r["series"], v) for r in TRT["releases"] for v in r["variants"]]
BUILD = re.compile(r"^cu\d+$")
PLATFORMS = {"x86_64", "sbsa", "jetson"}
# Fields a variant may leave null (unknown): then the row must say it is unconfirmed.
NULLABLE = {"glibc", "python", "max_cc"}


@pytest.mark.parametrize(("series", "v"), VARIANTS, ids=lambda x: x if isinstance(x, str) else x["build"])
def test_tensorrt_variant_rows(series, v):
    """Every build: sourced, typed, its CUDA range inside its own major, ranges ordered."""
    where = f"tensorrt {series} {v['build']}"
    _sourced(v, where)
    assert set(v) >= {"build", "cuda", "glibc", "python", "cudnn", "min_cc", "max_cc", "platform"}, where
    assert BUILD.match(v["build"]) and set(v["platform"]) <= PLATFORMS and v["platform"], where
    lo, hi = v["cuda"]
    assert Version(lo) <= Version(hi) and {Version(lo).major, Version(hi).major} == {int(v["build"][2:])}, f"{where}: cuda range within cu{v['build'][2:]}"
    for f in NULLABLE:
        if v[f] is None:
            assert v["verified"] is False or f in (v.get("unverified") or ()), f"{where}: unknown {f} must be marked unverified"
    _versions(v["min_cc"], *(x for x in (v["glibc"], v["max_cc"]) if x), *(v["python"] or ()))
    if v["python"]:
        assert Version(v["python"][0]) <= Version(v["python"][1]), where
    if v["max_cc"]:
        assert Version(v["min_cc"]) <= Version(v["max_cc"]), where
    assert v["cudnn"] is None or (set(v["cudnn"]) == {"version", "optional"} and isinstance(v["cudnn"]["optional"], bool)), where
    _versions(*(x for x in (v.get("first"), v.get("last")) if x))


@pytest.mark.parametrize("row", TRT["releases"], ids=lambda r: r["series"])
def test_tensorrt_series_rows_hold_only_their_builds(row):
    assert set(row) <= {"series", "variants", "pip_front"} and row["variants"]
    builds = [v["build"] for v in row["variants"]]
    assert len(set(builds)) == len(builds), f"tensorrt {row['series']}: one row per build"
    for v in row["variants"]:
        for key in ("first", "last"):
            if v.get(key):
                assert knowledge.major_minor(v[key]) == knowledge.major_minor(row["series"]), f"{key} lies inside the series"


def test_tensorrt_series_are_unique_ordered_and_min_cc_never_goes_down():
    series = [Version(r["series"]) for r in TRT["releases"]]
    assert series == sorted(series) and len(set(series)) == len(series)
    ccs = [Version(knowledge.trt_release(r["series"])["min_cc"]) for r in TRT["releases"]]
    assert ccs == sorted(ccs), "a later TensorRT never supports older GPUs than the one before"


@pytest.mark.parametrize("row", TRT["pip_installs"], ids=lambda r: f"{r['tensorrt']}-cu{r['cuda']}")
def test_tensorrt_pip_install_rows(row):
    _sourced(row, f"pip_installs {row['tensorrt']}")
    _versions(row["tensorrt"], *row["python"])
    assert isinstance(row["cuda"], str) and row["cuda"].isdigit() and row["why"]
    assert knowledge.trt_release(row["tensorrt"]) is not None, "every pinned release has a releases row (its min_cc decides which GPUs get it)"
    assert knowledge.trt_variant(row["tensorrt"], row["cuda"]) is not None, "pinned for a CUDA major its release has a build for"


@pytest.mark.parametrize("key", ["rtx", "preload", "plan_version"])
def test_tensorrt_single_blocks_are_sourced(key):
    _sourced(TRT[key], key)


@pytest.mark.parametrize("group", ["placeholders", "runtimes", "base_images", "plan_magic"])
def test_tensorrt_other_rows_are_sourced(group):
    for row in TRT[group]:
        _sourced(row, group)


@pytest.mark.parametrize("row", TF["releases"], ids=lambda r: r["series"])
def test_tensorflow_release_rows(row):
    _sourced(row, f"tensorflow {row['series']}")
    assert set(row) >= {"series", "python", "cudnn", "cuda", "trt"}
    _versions(row["series"], row["cudnn"], row["cuda"], *row["python"])
    if row["trt"]:
        _versions(row["trt"])
        assert row["trt_sonames"] and all(s.startswith(("libnvinfer.so.", "libnvinfer_plugin.so.")) for s in row["trt_sonames"])
    if "pip" in row:
        assert knowledge.major_minor(row["pip"]) == knowledge.major_minor(row["series"])


def test_tensorflow_series_are_unique():
    series = [Version(r["series"]) for r in TF["releases"]]
    assert len(set(series)) == len(series)


# Facts derived from rows, not written in code.


def test_the_last_tftrt_release_comes_from_the_rows_with_a_tensorrt():
    last = knowledge.tftrt_release()
    newer = [r for r in TF["releases"] if Version(r["series"]) > Version(last["series"])]
    assert last["trt"] and newer and all(r["trt"] is None for r in newer)


def test_an_8x_pin_uses_the_unsuffixed_names_whatever_the_cuda():
    """rules/frameworks._pip_command used to write tensorrt-cu12==8.6.1, a package that does not exist."""
    cmd = frameworks._pip_command("12", "8.6.1")
    assert "tensorrt==8.6.1" in cmd and "tensorrt-libs==8.6.1" in cmd and "tensorrt-bindings==8.6.1" in cmd
    assert "-cu12" not in cmd
    assert "tensorrt-cu12==10.13.3.9" in frameworks._pip_command("12", "10.13.3.9")


def test_one_pip_command_builder():
    """Rules, hints and recipes write a TensorRT install the same way."""
    eight = recipes.pip_install_command("8.6.1", "12")
    assert libraries._install_hint("libnvinfer.so.8") == eight
    assert frameworks._tf_trt_install("8.6.1") == eight
    assert recipes.tftrt_install().endswith(eight)


@pytest.mark.parametrize(("cc", "series"), [((6, 1), "8.6"), ((7, 0), "10.3"), ((7, 5), "10.16"), ((9, 0), "10.16")])
def test_recipes_pick_the_newest_release_whose_min_cc_the_gpu_meets(cc, series):
    snap = {"driver": {"version": knowledge.compat_min_driver(13)["driver"]}, "gpus": {"devices": [{"name": "GPU", "compute_capability": f"{cc[0]}.{cc[1]}"}]}}
    choice = recipes.choose(snap)
    assert knowledge.trt_release(choice["tensorrt"])["series"] == series
    rel = knowledge.trt_release(choice["tensorrt"])
    assert knowledge.major_minor(rel["min_cc"]) <= cc
    assert any("for CUDA" in w for w in choice["why"])


def test_a_recipe_pins_a_python_its_wheels_exist_for():
    for cuda in (12, 13):
        choice = recipes.choose({"driver": {"version": knowledge.compat_min_driver(cuda)["driver"]}, "gpus": {"devices": []}})
        row = next(r for r in TRT["pip_installs"] if r["tensorrt"] == choice["tensorrt"] and int(r["cuda"]) == choice["cuda_major"])
        assert Version(row["python"][0]) <= Version(choice["python"]) <= Version(row["python"][1])
    tf = recipes.choose({"driver": {"version": knowledge.compat_min_driver(12)["driver"]}, "gpus": {"devices": []}}, "tf-trt")
    assert Version(tf["python"]) <= Version(knowledge.tftrt_release()["python"][1])


def test_a_pascal_docker_recipe_ships_a_tensorrt_for_pascal_and_a_python_its_pins_support():
    snap = {"driver": {"version": knowledge.compat_min_driver(12)["driver"]}, "gpus": {"devices": [{"name": "Tesla P4", "compute_capability": "6.1"}]}}
    choice = recipes.choose(snap)
    if choice["image_tensorrt"]:  # an NGC image: its own TensorRT must run on sm_61
        assert knowledge.major_minor(knowledge.trt_release(choice["image_tensorrt"])["min_cc"]) <= (6, 1)
    else:
        row = next(r for r in TRT["base_images"] if r["image"] == choice["image"])
        assert Version(row["python"]) <= Version("3.11")


@pytest.mark.parametrize(("tf", "severity"), [("2.17.1", "error"), ("2.15.1", "warning")])
def test_a_cudnn_minor_from_an_unverified_tensorflow_row_only_warns(tf, severity):
    """Real TF wheels' build_info says only cuDNN '8': the minor comes from kb/tensorflow.yaml,
    and the 2.15 row is unconfirmed, so it may raise a warning, never an error."""
    from test_rule_units import TF_SITE, add_cudnn, healthy, with_tf

    from trtdoctor.rules import run_rules

    snap = with_tf(healthy(), tf)
    add_cudnn(snap, "libcudnn.so.8", (f"{TF_SITE}/nvidia/cudnn/lib/libcudnn.so.8", "8.6.0.163"))
    run = run_rules(snap, wanted={"libraries.cudnn-older-than-build"})
    assert [f.severity for f in run.findings] == [severity]


def test_library_install_hints_pin_the_kb_package_of_that_major():
    """The pip package per library major comes from kb/libraries.yaml (`packages`, `pip_dirs`):
    CUDA 13's runtime is the unsuffixed package pinned to 13, cuDNN 8 a package every cuDNN 8 row lists."""
    assert libraries._install_hint("libcudart.so.12").startswith("pip install nvidia-cuda-runtime-cu12 ")
    assert libraries._install_hint("libcudart.so.13").startswith("pip install 'nvidia-cuda-runtime==13.*'")
    assert "site-packages/nvidia/cu13/lib" in libraries._install_hint("libcudart.so.13")
    eight = libraries._install_hint("libcudnn.so.8")
    pkg = eight.split("'")[1].split("==")[0]
    assert eight.startswith("pip install '") and "==8.*" in eight
    assert all(pkg in r["packages"] for r in knowledge.load("libraries")["libraries"] if r["group"] == "cudnn" and any(s.endswith(".so.8") for s in r["sonames"]))
    assert libraries._install_hint("libcudart.so.10.1") == "install the package that provides libcudart.so.10.1"  # no pip package: none invented
