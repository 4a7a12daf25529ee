"""The published JSON Schemas: generated from trtdoctor/snapshot.py, met by real outputs,
and the gate `--from` goes through: odd reports are one-line usage errors, and whatever
passes the schema is judged by the rules without a crash (a hypothesis fuzz)."""

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import CC, REPO, Tree, check_json, h100_tree, json_paths, needs_cc, run_cli, saved_report
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from trtdoctor import engine, render, report
from trtdoctor.fix.plan import build_plan
from trtdoctor.smoke.runner import stack_of
from trtdoctor.target import UsageError

sys.path.insert(0, str(REPO / "scripts"))
import make_schemas  # noqa: E402

SCHEMAS = REPO / "trtdoctor" / "schemas"
SITE = "/opt/venv/lib/python3.12/site-packages"


def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))


REPORT, PLAN, SMOKE = validator("report-1.json"), validator("plan-1.json"), validator("smoke-1.json")


def assert_valid(v: Draft202012Validator, doc: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in v.iter_errors(doc)]
    assert not errors, errors[:5]


@pytest.mark.parametrize("name", sorted(make_schemas.DOCUMENTS))
def test_schema_files_match_the_typeddicts(name):
    Draft202012Validator.check_schema(json.loads((SCHEMAS / name).read_text(encoding="utf-8")))
    assert (SCHEMAS / name).read_text(encoding="utf-8") == make_schemas.generate()[name], f"trtdoctor/schemas/{name} differs from trtdoctor/snapshot.py: run scripts/make_schemas.py"


def test_generator_mapping():
    from typing import Dict, List, Literal, Optional, TypedDict, Union

    class Inner(TypedDict):
        """An inner record."""

        a: int

    class _OuterBase(TypedDict):
        name: str
        kind: Literal["x", "y"]

    class Outer(_OuterBase, total=False):
        maybe: Optional[float]
        either: Union[bool, str]
        inners: List[Inner]
        table: Dict[str, Optional[Inner]]

    doc = make_schemas.document(Outer, "t")
    assert doc["required"] == ["name", "kind"]
    props = doc["properties"]
    assert props["kind"] == {"type": "string", "enum": ["x", "y"]}
    assert props["maybe"] == {"type": ["number", "null"]}
    assert props["either"] == {"type": ["boolean", "string"]}
    assert props["inners"] == {"type": "array", "items": {"$ref": "#/$defs/Inner"}}
    assert props["table"] == {"type": "object", "additionalProperties": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}]}}
    assert doc["$defs"]["Inner"] == {"type": "object", "description": "An inner record.", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


# --- real outputs ----------------------------------------------------------------------


def rich_tree(t: Tree) -> Tree:
    """The h100 tree plus a venv with TensorRT (mismatched -libs), TF 2.17 (its TensorRT 8
    missing), onnxruntime-gpu's TensorRT EP and pycuda, a broken library file, and
    LD_LIBRARY_PATH/LD_PRELOAD problems: most areas and rules have something to say."""
    h100_tree(t)
    t.dist(SITE, "tensorrt-cu12", "10.13.3.9")
    t.dist(SITE, "tensorrt-cu12-bindings", "10.13.3.9")
    t.dist(SITE, "tensorrt-cu12-libs", "10.7.0")
    t.lib(f"{SITE}/tensorrt_bindings/tensorrt.so", "tensorrt.so", needs=("libnvinfer.so.10", "libnvonnxparser.so.10"), rpath="$ORIGIN/../tensorrt_libs")
    t.lib(f"{SITE}/tensorrt_libs/libnvinfer.so.10", "libnvinfer.so.10")
    t.dist(SITE, "tensorflow", "2.17.1")
    t.write(f"{SITE}/tensorflow/python/platform/build_info.py", "build_info = {'cuda_version': '12.3', 'cudnn_version': '8', 'is_cuda_build': True, 'is_tensorrt_build': True}\n")
    t.lib(f"{SITE}/tensorflow/libtensorflow_framework.so.2", "libtensorflow_framework.so.2")
    t.dist(SITE, "onnxruntime-gpu", "1.20.1")
    t.lib(f"{SITE}/onnxruntime/capi/libonnxruntime_providers_tensorrt.so", "libonnxruntime_providers_tensorrt.so", needs=("libnvinfer.so.10", "libcudart.so.12"))
    t.dist(SITE, "pycuda", "2024.1")
    t.lib(f"{SITE}/pycuda/_driver.cpython-312-x86_64-linux-gnu.so", "_driver.so", needs=("libcuda.so.1",))
    t.write("/usr/lib/x86_64-linux-gnu/libnvinfer.so.8", "")  # zero-length: an elf_error copy
    return t


RICH_ENV = ("--env", "VIRTUAL_ENV=/opt/venv", "--env", "LD_LIBRARY_PATH=/nope::/usr/local/nvidia/lib64", "--env", "LD_PRELOAD=/missing/libcudart.so.12")


def live_facts(rep: dict) -> dict:
    """A copy of a static report with live-only facts added, shaped as the live probes write
    them (NVML, dlopen, imports): a GPU machine's report without a GPU."""
    rep = copy.deepcopy(rep)
    snap = rep["snapshot"]
    rep["target"] = snap["target"] = {"mode": "live", "root": "/"}
    snap["nvml"] = {
        "driver": "580.159.04",
        "cuda_driver_version": 13000,
        "devices": [{"index": 0, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-f6a77f63", "compute_capability": "9.0", "memory_total_mib": 81559, "mig_mode": 0}],
        "source": "nvml",
        "cuDriverGetVersion": [0, 13000],
        "cuInit": 0,
        "cuda_device_count": 1,
    }
    snap["gpus"]["devices"] = [dict(snap["nvml"]["devices"][0], source="nvml")]
    snap["driver"]["cuda_driver_version"] = "13.0"
    snap["driver"].pop("cuda_driver_version_source", None)
    libs = snap["libraries"]["libraries"]
    live = {}
    for soname, lib in libs.items():
        if lib["resolved"]:
            live[soname] = {"loaded": lib["resolved"], "in_maps": True}
            lib["live"], lib["live_agrees"] = live[soname], True
    first = next(iter(libs))
    libs[first]["live"], libs[first]["live_agrees"] = {"error": f"{first}: cannot open shared object file"}, False
    snap["libraries"]["live"] = live
    trt = snap["tensorrt"]["installs"][0]
    trt["python"] = "/opt/venv/bin/python"
    trt["live"] = {
        "tensorrt": {"module": "tensorrt", "version": "10.13.3.9", "builder_error": "RuntimeError: no GPU", "mapped": ["/opt/venv/lib/python3.12/site-packages/tensorrt_libs/libnvinfer.so.10"]},
        "tensorrt_bindings": {"import_errors": {"tensorrt_bindings": "ImportError: libnvonnxparser.so.10: cannot open shared object file"}},
        "tensorrt_rtx": {"error": "could not collect: import tensorrt_rtx timed out after 30s"},
    }
    tf = snap["tensorflow"]["installs"][0]
    tf["live"] = {
        "version": "2.17.1",
        "build_info": {"cuda_version": "12.3", "cudnn_version": "8", "is_cuda_build": True, "is_tensorrt_build": True},
        "gpus": [],
        "is_tensorrt_enabled": True,
        "linked_tensorrt": "8.6.1",
        "log": ["W tensorflow/compiler/tf2tensorrt/utils/py_utils.cc:38] TF-TRT Warning: Could not find TensorRT"],
        "loaded_tensorrt": None,
        "loaded_tensorrt_skipped": "libnvinfer does not resolve; TF would abort",
    }
    snap["pycuda"]["installs"][0]["live"] = {"version": "2024.1", "built_cuda": "13.1.0", "driver_cuda": 13000, "devices": 1}
    snap["onnxruntime"]["installs"][0]["live"] = {"version": "1.20.1", "providers": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]}
    return rep


@pytest.fixture(scope="module")
def rich_report(tmp_path_factory) -> dict:
    if CC is None:
        pytest.skip("no C compiler")
    t = rich_tree(Tree(tmp_path_factory.mktemp("rich") / "root"))
    return check_json(t.root, *RICH_ENV)


@pytest.fixture(scope="module")
def live_report() -> dict:
    res = run_cli("check", "--json")
    assert res.returncode in (0, 1), res.stderr
    return json.loads(res.stdout)


@needs_cc
def test_static_reports_validate(tree, rich_report):
    assert_valid(REPORT, check_json(h100_tree(tree).root, "--env", "CUDA_VISIBLE_DEVICES="))
    assert_valid(REPORT, rich_report)
    snap = rich_report["snapshot"]
    assert {c["role"] for c in snap["libraries"]["consumers"]} == {"tensorflow", "tensorrt-bindings", "onnxruntime-tensorrt-ep", "pycuda"}
    assert {c["name"] for c in snap["libraries"]["consumers"]} == {"tensorflow 2.17.1", "tensorrt bindings", "onnxruntime TensorRT EP", "pycuda"}
    ids = {f["id"] for f in rich_report["findings"]}
    assert {"tensorrt.parts-mismatch", "libraries.missing", "libraries.broken-file", "env.ld-preload-missing", "env.ld-library-path-missing"} <= ids


def test_live_report_validates(live_report):
    assert_valid(REPORT, live_report)


@needs_cc
def test_live_shaped_facts_validate_and_judge(rich_report):
    rep = live_facts(rich_report)
    assert_valid(REPORT, rep)
    again, findings = engine.recheck(rep)
    assert not [f.id for f in findings if f.id.endswith(".crashed")]
    ids = {f.id for f in findings}
    assert {"tensorrt.builder-failed", "tensorrt.import-failed", "tensorflow.no-gpu", "pycuda.built-for-newer-cuda", "libraries.dlopen-failed"} <= ids
    assert_valid(REPORT, again)


@needs_cc
def test_plan_validates(rich_report, tmp_path):
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(rich_report))
    res = run_cli("fix", "--from", str(saved), "--format", "json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert_valid(PLAN, plan)
    assert {s["kind"] for s in plan["steps"]} == {"install", "env", "command"}


@needs_cc
def test_smoke_preflight_report_validates(rich_report, tmp_path):
    """A real `smoke --format json` here: stopped by preflight (no GPU in this workplace)."""
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(rich_report))
    res = run_cli("smoke", "--from", str(saved), "--format", "json")
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["preflight"] and out["reason"].startswith("preflight")
    assert_valid(SMOKE, out)


FULL_SMOKE = r"""
import json, sys
import numpy as np
from trtdoctor import engine, report
from trtdoctor.smoke import cuda_run, runner
from trtdoctor.smoke.backends import OrtBaseline
from trtdoctor.smoke.model import reference_model

def run_engine(trt, engine_, feeds, outputs, iterations, warmup, no_transfers=False, cuda_graph=False, binding="auto", device=0):
    # no GPU here: the reference outputs and steady timings stand in for the device run
    ys = OrtBaseline(reference_model()).run({k: v.astype(np.float32) for k, v in feeds.items()})
    n = iterations
    return {"outputs": ys, "gpu_ms": [1.0 + i / 1000 for i in range(n)], "e2e_ms": [1.5 + i / 1000 for i in range(n)], "enqueue_ms": [0.1] * n, "transfer_ms": [0.2] * n, "binding": "pycuda", "cuda_graph": False, "notes": ["--cuda-graph: pycuda has no CUDA-graph API"]}

cuda_run.run_engine = run_engine
rep, findings = engine.recheck(report.load(sys.argv[1]))
opts = dict(precision="fp16", model="reference", backend="tensorrt", batch=4, iterations=20, warmup=2, device=0, engine_cache=sys.argv[2], cuda_graph=False, no_transfers=False, force=True)
print(json.dumps(runner.smoke(rep, findings, opts), default=str))
"""


@needs_cc
def test_full_smoke_report_validates(rich_report, tmp_path):
    """Every section of a smoke report, from the runner itself, on the named fake TensorRT
    (tests/fake_tensorrt) with the device run replaced: this workplace has no GPU."""
    for module in ("numpy", "onnx", "onnxruntime"):
        pytest.importorskip(module)
    saved = tmp_path / "r.json"
    saved.write_text(json.dumps(rich_report))
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests" / "fake_tensorrt") + os.pathsep + str(REPO), "FAKE_TRT_VERSION": "10.13.3.9"}
    res = subprocess.run([sys.executable, "-c", FULL_SMOKE, str(saved), str(tmp_path / "engines")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["result"] == "PASS", out.get("reason")
    assert {"model", "baseline", "backend", "build", "validation", "benchmark"} <= set(out)
    bm = out["benchmark"]  # which CUDA bindings ran it, and the note a graph-less binding leaves
    assert bm["cuda_binding"] == "pycuda" and bm["cuda_graph"] is False and bm["warnings"][0] == "--cuda-graph: pycuda has no CUDA-graph API"
    assert_valid(SMOKE, out)


# --- --from: odd reports -------------------------------------------------------------------


def _set(path: list, value):
    def edit(rep):
        d = rep
        for p in path[:-1]:
            d = d[p]
        d[path[-1]] = value

    return edit


ODD = {
    "snapshot area is a string": (_set(["snapshot", "driver"], "hello"), "snapshot.driver: 'hello' is not of type 'object'"),
    "gpus.devices is a dict": (_set(["snapshot", "gpus", "devices"], {"0": {"name": "x"}}), "snapshot.gpus.devices: {'0': {'name': 'x'}} is not of type 'array'"),
    "GPU name is a number": (_set(["snapshot", "gpus", "devices"], [{"index": 0, "name": 3, "uuid": None, "compute_capability": None, "source": "x"}]), "snapshot.gpus.devices[0].name: 3 is not of type"),
    "findings item missing id": (lambda r: r["findings"][0].pop("id"), "findings[0]: 'id' is a required property"),
    "nested lists instead of dicts": (_set(["snapshot", "libraries", "libraries"], [[{"resolved": 1}], [[]]]), "snapshot.libraries.libraries: [[{...}], [[]]] is not of type 'object'"),
    "nested lists instead of a record": (_set(["snapshot", "cuda", "toolkits"], [[["/usr/local/cuda", "13.0"]]]), "snapshot.cuda.toolkits[0]: [['/usr/local/cuda', '13.0']] is not of type 'object'"),
    "a huge number": (_set(["snapshot", "gpus", "count"], "HUGE-FLOAT"), "snapshot.gpus.count: inf is not of type 'integer'"),
    "a huge integer where a string belongs": (_set(["snapshot", "os", "kernel"], "HUGE-INT"), "snapshot.os.kernel: 1000000000000000"),
    "a version that is not one": (_set(["snapshot", "driver", "cuda_driver_version"], "thirteen"), "snapshot.driver.cuda_driver_version: 'thirteen' does not match"),
    "an area error with facts": (_set(["snapshot", "tensorrt"], {"error": "could not collect: x", "installs": {}}), "snapshot.tensorrt.installs: {} is not of type 'array'"),
    "a long string where a bool belongs": (_set(["snapshot", "os", "wsl2"], "y" * 100000), "snapshot.os.wsl2: 'yyyyyyyyyyyy"),
    "a soname key with dots": (_set(["snapshot", "libraries", "libraries"], {"libcuda.so.1": {"copies": "none"}}), 'snapshot.libraries.libraries["libcuda.so.1"]'),
    "unknown severity": (lambda r: r["findings"][0].__setitem__("severity", "fatal"), "findings[0].severity: 'fatal' is not one of ['error', 'warning', 'info']"),
    "tool missing": (lambda r: r.pop("tool"), "'tool' is a required property"),
}


def assert_usage_error(res: subprocess.CompletedProcess, words: str = "") -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr)
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "internal error" not in err and "Traceback" not in err
    assert len(err) < 400, err
    assert words in err, err
    return err


def write_odd(rich_report: dict, case: str, where: Path) -> tuple[Path, str]:
    edit, words = ODD[case]
    rep = copy.deepcopy(rich_report)
    edit(rep)
    saved = where / "report.json"
    # literals json.dumps would not write: a float beyond double range (read as inf), a 4000-digit integer
    saved.write_text(json.dumps(rep).replace('"HUGE-FLOAT"', "1e999").replace('"HUGE-INT"', "1" + "0" * 4000))
    return saved, words


@needs_cc
@pytest.mark.parametrize("case", sorted(ODD))
def test_odd_reports_are_one_line_usage_errors(case, rich_report, tmp_path):
    saved, words = write_odd(rich_report, case, tmp_path)
    err = assert_usage_error(run_cli("check", "--from", str(saved)), words)
    assert err.startswith(f"trtdoctor: {saved}: ")


@needs_cc
@pytest.mark.parametrize("case", ["snapshot area is a string", "findings item missing id"])
@pytest.mark.parametrize("command", ["fix", "smoke"])
def test_fix_and_smoke_refuse_odd_reports_alike(command, case, rich_report, tmp_path):
    saved, words = write_odd(rich_report, case, tmp_path)
    assert_usage_error(run_cli(command, "--from", str(saved)), words)


def test_unreadable_json_is_a_usage_error(live_report, tmp_path):
    text = json.dumps(live_report)
    f = tmp_path / "r.json"
    for bad, words in [
        (text.replace('"count": 0', '"count": ' + "9" * 5000), "is not JSON (Exceeds the limit"),
        (text.replace('"count": 0', '"count": NaN'), "is not JSON (NaN is not valid JSON)"),
        (text.replace('"count": 0', '"count": ' + "[" * 100 + "]" * 100), "snapshot.gpus.count[0][0]"),
        (text.replace('"count": 0', '"count": ' + "[" * 50000 + "]" * 50000), "nested deeper than 64 levels"),
        ("[1, 2]", "is not a trtdoctor report"),
    ]:
        f.write_text(bad)
        assert_usage_error(run_cli("check", "--from", str(f)), words)
    f.write_bytes(b"\xff\xfe{")
    assert_usage_error(run_cli("check", "--from", str(f)), "not UTF-8")
    with open(f, "wb") as fh:  # sparse: no 64 MiB written
        fh.truncate(64 * 2**20 + 1)
    assert_usage_error(run_cli("check", "--from", str(f)), "is larger than 64 MiB")


@needs_cc
def test_a_report_without_target_loads(rich_report, tmp_path):
    saved = tmp_path / "r.json"
    rep = live_facts(rich_report)
    rep.pop("target")
    saved.write_text(json.dumps(rep))
    assert report.load(str(saved))["target"] == {"mode": "live", "root": "/"}  # the snapshot's own
    del rep["snapshot"]["target"]
    saved.write_text(json.dumps(rep))
    assert report.load(str(saved))["target"] == {"mode": "static", "root": "/"}
    res = run_cli("check", "--json", "--from", str(saved))
    assert res.returncode in (0, 1), res.stderr
    out = json.loads(res.stdout)
    assert out["target"] == {"mode": "static", "root": "/"}
    assert_valid(REPORT, out)
    assert run_cli("check", "--from", str(saved)).stdout.startswith("trtdoctor ")


# --- the fuzz --------------------------------------------------------------------------------

WORDS = ["", "0", "1", "-1", "2", "13.0", "3.12", "12.4.0", "580.159.04", "99.0.0", "abc", "x.y", "slow", "partial", "live", "static", "error", "info", "²", "GLIBC_2.99", "GLIBCXX_3.4.99"]
WORDS += ["libnvinfer.so.10", "libcudart.so.12", "libcuda.so.1", "tensorrt", "tensorrt-cu12", "tensorflow 2.17.1", "LD_LIBRARY_PATH", "/usr/lib", "could not collect: x", "$ORIGIN", "sm_61"]
KEYS = ["error", "live", "resolved", "version", "path", "via", "real", "copies", "needs", "resolutions", "devices", "installs", "parts", "compute_capability", "support", "fix", "env"]
LEAVES = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12) | st.sampled_from(WORDS)
JSON_VALUES = st.recursive(LEAVES, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6) | st.sampled_from(KEYS), kids, max_size=3), max_leaves=8)


def same_kind(value):
    """A value of the same JSON type: the mutations most likely to pass the schema."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(-(2**40), 2**40)
    if isinstance(value, float):
        return st.floats(allow_nan=False, allow_infinity=False)
    if isinstance(value, str):
        return st.sampled_from(WORDS) | st.text(max_size=12) | st.just(value + "x")
    if isinstance(value, list):
        return st.just([]) | st.just(value * 2) | st.lists(JSON_VALUES, max_size=2)
    if isinstance(value, dict):
        return st.just({}) | st.dictionaries(st.sampled_from(sorted(value) or KEYS) | st.sampled_from(KEYS), JSON_VALUES, max_size=3)
    return JSON_VALUES


@st.composite
def mutated(draw, bases: list[dict]):
    doc = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        paths = json_paths(doc)
        if not paths:
            break
        where = draw(st.sampled_from(paths))
        parent = doc
        for k in where[:-1]:
            parent = parent[k]
        key, old = where[-1], parent[where[-1]]
        how = draw(st.sampled_from(["same", "same", "same", "any", "delete"]))
        if how == "delete":
            del parent[key]
            new = "(deleted)"
        else:
            parent[key] = draw(same_kind(old) if how == "same" else JSON_VALUES)
            new = json.dumps(parent[key])[:80]
        note(f"{how} {'.'.join(map(str, where))}: {json.dumps(old)[:80]} -> {new}")
    return doc


@pytest.fixture(scope="module")
def fuzz_bases(rich_report, live_report) -> list[dict]:
    return [rich_report, live_facts(rich_report), live_report]


@pytest.fixture(scope="module")
def fuzz_dir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


FUZZ_STATS = {"loaded": 0, "refused": 0}


@needs_cc
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_fuzz_from_reports(fuzz_bases, fuzz_dir, data):
    """Random damage to valid reports: each is refused in one line, or judged without a
    crash (no rule's ``.crashed`` finding), rendered, planned, and its re-judged report
    still meets the schema."""
    doc = data.draw(mutated(fuzz_bases))
    path = fuzz_dir / "report.json"
    path.write_text(json.dumps(doc))
    try:
        saved = report.load(str(path))
    except UsageError as exc:
        FUZZ_STATS["refused"] += 1
        msg = str(exc)
        assert "\n" not in msg and len(msg) < 400, msg
        return
    FUZZ_STATS["loaded"] += 1
    rep, findings = engine.recheck(saved)
    crashed = [f"{f.id}: {f.detail}" for f in findings if f.id.endswith(".crashed")]
    assert not crashed, crashed
    assert_valid(REPORT, rep)
    render.text(rep, findings, verbose=True)
    render.markdown(rep, findings)
    assert_valid(PLAN, build_plan(saved))
    stack_of(rep["snapshot"], 0)


def test_fuzz_reached_the_rules():
    """The fuzz is only worth something if many of its reports pass the schema."""
    if FUZZ_STATS["loaded"] + FUZZ_STATS["refused"] == 0:
        pytest.skip("the fuzz did not run in this session")
    assert FUZZ_STATS["loaded"] >= 20, FUZZ_STATS


def test_a_saved_environment_fix_without_env_plans_as_a_command(tmp_path):
    """Found by the --from fuzz: a report whose fix says kind environment but holds no env made
    an env step without ``env``, which the plan schema refuses."""
    f = {"id": "env.ld-library-path-empty", "severity": "warning", "area": "env", "title": "t", "detail": "", "evidence": [], "subject": None, "caused_by": None}
    f["fix"] = {"summary": "s", "commands": ["export LD_LIBRARY_PATH=/usr/local/nvidia/lib64"], "env": {}, "links": [], "kind": "environment"}
    plan = build_plan(report.load(str(saved_report(tmp_path / "r.json", [f]))))
    assert_valid(PLAN, plan)
    assert [s["kind"] for s in plan["steps"]] == ["command"]
