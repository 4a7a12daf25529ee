"""trtdoctor fleet: provenance in every report, the summary over reports of different test
roots, bad input, and the Kubernetes manifest checked against a schema of the fields it uses."""

import json
import os
import socket
import sys

import pytest
import yaml
from conftest import REPO, Tree, check_json, h100_tree, needs_cc, run_cli
from jsonschema import Draft202012Validator

SCHEMAS = REPO / "trtdoctor" / "schemas"
FLEET = Draft202012Validator(json.loads((SCHEMAS / "fleet-1.json").read_text()))
REPORT = Draft202012Validator(json.loads((SCHEMAS / "report-1.json").read_text()))


def valid(v: Draft202012Validator, doc: dict) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in v.iter_errors(doc)]
    assert not errors, errors[:5]


def summary(*paths, fmt="json"):
    res = run_cli("fleet", "summary", *map(str, paths), "--format", fmt)
    return res, (json.loads(res.stdout) if fmt == "json" and res.stdout else None)


@pytest.fixture(scope="module")
def fleet_reports(tmp_path_factory):
    """Three real reports of three test roots: two alike, one (node07) with an older driver
    and without cuDNN."""
    from conftest import CC

    if CC is None:
        pytest.skip("no C compiler")
    base = tmp_path_factory.mktemp("fleet")
    out = base / "reports"
    out.mkdir()
    for name in ("node01", "node02", "node07"):
        t = Tree(base / name)
        h100_tree(t)
        t.write("/etc/hostname", name + "\n")
        if name == "node07":
            t.driver(version="570.86.15")
            for f in t.p("/usr/lib/x86_64-linux-gnu").glob("libcudnn.so*"):
                f.unlink()
            t.ldconfig()
        (out / f"{name}.json").write_text(json.dumps(check_json(t.root)))
    return out


# --- provenance --------------------------------------------------------------------------


@needs_cc
def test_static_report_names_the_roots_host_and_when(tree):
    h100_tree(tree)
    tree.write("/etc/hostname", "gpu-node-17\n")
    rep = check_json(tree.root)
    valid(REPORT, rep)
    prov = rep["provenance"]
    assert prov["host"] == "gpu-node-17" and prov["host_from"] == "/etc/hostname"
    assert prov["host"] != socket.gethostname()
    assert prov["created"].endswith("Z") and rep["tool"]["version"]


@needs_cc
def test_static_root_without_hostname_has_no_host(tree):
    h100_tree(tree)
    prov = check_json(tree.root)["provenance"]
    assert prov["host"] is None and prov["host_from"] == "/etc/hostname"


def test_live_host_is_the_schedulers_name_when_given():
    env = dict(os.environ, TRTDOCTOR_HOST_NAME="node-a12")
    res = run_cli("check", "--json", "--only", "os", env=env)
    assert json.loads(res.stdout)["provenance"] == {**json.loads(res.stdout)["provenance"], "host": "node-a12", "host_from": "TRTDOCTOR_HOST_NAME"}
    env.pop("TRTDOCTOR_HOST_NAME")
    prov = json.loads(run_cli("check", "--json", "--only", "os", env=env).stdout)["provenance"]
    assert prov["host"] == socket.gethostname() and prov["host_from"] == "gethostname"


@needs_cc
def test_recheck_keeps_the_saved_provenance(tree, tmp_path):
    h100_tree(tree)
    tree.write("/etc/hostname", "far-away\n")
    saved = tmp_path / "r.json"
    rep = check_json(tree.root)
    saved.write_text(json.dumps(rep))
    again = json.loads(run_cli("check", "--json", "--from", str(saved)).stdout)
    assert again["provenance"] == rep["provenance"]


# --- summary -----------------------------------------------------------------------------


def test_summary_names_the_differing_node_and_the_facts(fleet_reports):
    res, doc = summary(fleet_reports)
    assert res.returncode == 1, res.stderr  # node07 has errors
    valid(FLEET, doc)
    assert doc["summary"] == {"nodes": 3, "answered": 3, "no_report": 0, "failing": 1, "differing": 1}
    assert doc["majority"]["driver"] == "580.159.04" and doc["majority"]["cudnn"] == "9.14.0"
    (diff,) = doc["differences"]
    assert diff["nodes"] == ["node07"]
    assert diff["facts"]["driver"] == {"value": "570.86.15", "majority": "580.159.04"}
    assert diff["facts"]["cudnn"]["majority"] == "9.14.0" and diff["facts"]["cudnn"]["value"] != "9.14.0"
    assert "gpu" not in diff["facts"] and "kernel" not in diff["facts"]
    assert diff["extra_findings"]  # its errors are not the fleet's
    text = run_cli("fleet", "summary", str(fleet_reports)).stdout
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("node07:"))
    assert "driver 570.86.15 (majority 580.159.04)" in line and "cuDNN" in line


def test_summary_of_alike_nodes_passes(fleet_reports):
    res, doc = summary(fleet_reports / "node01.json", fleet_reports / "node02.json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert doc["differences"] == [] and [n["name"] for n in doc["nodes"]] == ["node01", "node02"]
    assert [f["id"] for f in doc["findings"]] == ["tensorrt.not-installed"]


def test_node_without_a_report_is_named_with_its_stderr(fleet_reports, tmp_path):
    for name in ("node01", "node02"):
        (tmp_path / f"{name}.json").write_text((fleet_reports / f"{name}.json").read_text())
    (tmp_path / "node03.json").write_text("")
    (tmp_path / "node03.err").write_text("Traceback ...\nImportError: no module named trtdoctor\n")
    (tmp_path / "node04.json").write_text('{"schema": "trtdoctor.report/1", "snapsh')  # cut off
    res, doc = summary(tmp_path)
    assert res.returncode == 1
    valid(FLEET, doc)
    missing = {n["name"]: n["reason"] for n in doc["nodes"] if n["status"] == "no report"}
    assert set(missing) == {"node03", "node04"}
    assert "ImportError: no module named trtdoctor" in missing["node03"] and "printed nothing" in missing["node03"]
    text = run_cli("fleet", "summary", str(tmp_path)).stdout
    assert "Without a report:" in text and "node04: not a trtdoctor report" in text


def test_two_files_of_one_host_stay_apart(fleet_reports, tmp_path):
    a = tmp_path / "a.json"
    a.write_text((fleet_reports / "node01.json").read_text())
    _, doc = summary(a, fleet_reports / "node01.json")
    assert sorted(n["name"] for n in doc["nodes"]) == ["node01 (a.json)", "node01 (node01.json)"]


def test_hostile_host_name_cannot_forge_a_line(fleet_reports, tmp_path):
    rep = json.loads((fleet_reports / "node07.json").read_text())
    rep["provenance"]["host"] = "evil\n  node01: all good\x1b[2J"
    (tmp_path / "x.json").write_text(json.dumps(rep))
    text = run_cli("fleet", "summary", str(tmp_path / "x.json"), str(fleet_reports / "node01.json"), str(fleet_reports / "node02.json")).stdout
    assert "\x1b" not in text and "evil\\n  node01: all good\\x1b[2J" in text
    assert not any(ln.startswith("  node01: all good") for ln in text.splitlines())


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "nothing-here", "no such file or directory"),
        (lambda d: d, "holds no *.json report"),
        (lambda d: (d / "g.json").write_text("hello") and d / "g.json", "no trtdoctor report among 1 file"),
        (lambda d: (d / "p.json").write_text('{"schema": "trtdoctor.plan/1"}') and d / "p.json", "schema 'trtdoctor.plan/1'"),
        (lambda d: (os.mkfifo(d / "f.json"), d / "f.json")[1], "is a FIFO"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, make, words):
    res = run_cli("fleet", "summary", str(make(tmp_path)))
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and words in res.stderr, res.stderr


def test_summary_reads_odd_shapes_without_a_crash(tmp_path):
    """The summary does not schema-check each report: wrong types are absent facts."""
    odd = {
        "schema": "trtdoctor.report/1",
        "summary": [],
        "provenance": "x",
        "findings": [1, {"id": 3, "severity": "error"}],
        "snapshot": {"gpus": {"devices": [None, {"name": 5}]}, "driver": {"error": "could not collect: x"}, "libraries": {"libraries": []}, "os": {"container": "yes"}},
    }
    (tmp_path / "odd.json").write_text(json.dumps(odd))
    res, doc = summary(tmp_path / "odd.json")
    assert res.returncode == 0, res.stderr
    valid(FLEET, doc)
    assert doc["majority"]["gpu"] == "1× unknown model" and doc["majority"]["driver"] == "(could not collect)"


# --- k8s ---------------------------------------------------------------------------------

# The Kubernetes API's rules for the fields we write (from the v1 Pod, apps/v1 DaemonSet and
# batch/v1 Job OpenAPI definitions), closed where we write the object whole so that a
# misspelt field fails. kubectl --dry-run=client cannot stand in: it downloads the OpenAPI
# from a server, and there is none here.
NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"}
STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
CONTAINER = {
    "type": "object",
    "required": ["name", "image"],
    "additionalProperties": False,
    "properties": {
        "name": NAME,
        "image": {"type": "string", "minLength": 1},
        "command": {"type": "array", "items": {"type": "string"}},
        "env": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"},
                    "value": {"type": "string"},
                    "valueFrom": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "fieldRef": {
                                "type": "object",
                                "required": ["fieldPath"],
                                "additionalProperties": False,
                                "properties": {"fieldPath": {"enum": ["spec.nodeName", "metadata.name", "metadata.namespace", "status.podIP", "status.hostIP"]}},
                            }
                        },
                    },
                },
            },
        },
        "resources": {"type": "object", "additionalProperties": False, "properties": {k: {"type": "object", "additionalProperties": {"type": ["string", "integer"]}} for k in ("limits", "requests")}},
    },
}
POD_SPEC = {
    "type": "object",
    "required": ["containers"],
    "additionalProperties": False,
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
        "initContainers": {"type": "array", "items": CONTAINER},
        "nodeSelector": STR_MAP,
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never"]},
        "tolerations": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"key": {"type": "string"}, "operator": {"enum": ["Exists", "Equal"]}, "value": {"type": "string"}, "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]}},
            },
        },
        "affinity": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "podAntiAffinity": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["topologyKey"],
                                "additionalProperties": False,
                                "properties": {"topologyKey": {"type": "string", "minLength": 1}, "labelSelector": {"type": "object", "additionalProperties": False, "properties": {"matchLabels": STR_MAP}}},
                            },
                        }
                    },
                }
            },
        },
    },
}
TEMPLATE = {"type": "object", "required": ["spec"], "additionalProperties": False, "properties": {"metadata": {"type": "object", "properties": {"labels": STR_MAP}}, "spec": POD_SPEC}}
METADATA = {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {"name": NAME, "namespace": NAME, "labels": STR_MAP}}
K8S = Draft202012Validator(
    {
        "oneOf": [
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": {"const": "batch/v1"},
                    "kind": {"const": "Job"},
                    "metadata": METADATA,
                    "spec": {
                        "type": "object",
                        "required": ["template"],
                        "additionalProperties": False,
                        "properties": {k: {"type": "integer", "minimum": 0} for k in ("completions", "parallelism", "backoffLimit")}
                        | {
                            "template": {
                                **TEMPLATE,
                                "properties": {
                                    **TEMPLATE["properties"],
                                    "spec": {**POD_SPEC, "required": ["containers", "restartPolicy"], "properties": {**POD_SPEC["properties"], "restartPolicy": {"enum": ["OnFailure", "Never"]}}},
                                },
                            }
                        },
                    },
                },
            },
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["apiVersion", "kind", "metadata", "spec"],
                "properties": {
                    "apiVersion": {"const": "apps/v1"},
                    "kind": {"const": "DaemonSet"},
                    "metadata": METADATA,
                    "spec": {
                        "type": "object",
                        "required": ["selector", "template"],
                        "additionalProperties": False,
                        "properties": {"selector": {"type": "object", "required": ["matchLabels"], "properties": {"matchLabels": STR_MAP}}, "template": TEMPLATE},
                    },
                },
            },
        ]
    }
)


def k8s(*args: str) -> tuple[str, dict]:
    res = run_cli("fleet", "k8s", "--image", "registry.example.com/trtdoctor:latest", *args)
    assert res.returncode == 0, res.stderr
    docs = [d for d in yaml.safe_load_all(res.stdout) if d is not None]
    assert len(docs) == 1
    return res.stdout, docs[0]


def pod_of(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def check_container(doc: dict) -> dict:
    pod = pod_of(doc)
    return next(c for c in pod.get("initContainers", []) + pod["containers"] if c["name"] == "check")


def test_job_manifest_is_valid_and_one_pod_per_gpu_node():
    text, doc = k8s("--nodes", "8", "--namespace", "ml", "--node-selector", "pool=h100")
    valid(K8S, doc)
    assert doc["kind"] == "Job" and doc["spec"]["completions"] == doc["spec"]["parallelism"] == 8
    pod = pod_of(doc)
    assert pod["nodeSelector"] == {"pool": "h100"} and doc["metadata"]["namespace"] == "ml"
    (rule,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname" and rule["labelSelector"]["matchLabels"] == doc["spec"]["template"]["metadata"]["labels"]
    c = check_container(doc)
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 1} and c["image"] == "registry.example.com/trtdoctor:latest"
    assert "trtdoctor check --json" in c["command"][-1]
    assert {"name": "TRTDOCTOR_HOST_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in c["env"]
    assert "&id" not in text and "kubectl -n ml logs" in text and "trtdoctor fleet summary reports/" in text


def test_daemonset_manifest_is_valid_and_keeps_the_report_in_the_init_log():
    _, doc = k8s("--kind", "daemonset", "--gpus", "0")
    valid(K8S, doc)
    assert doc["spec"]["selector"]["matchLabels"] == doc["spec"]["template"]["metadata"]["labels"]
    assert pod_of(doc)["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert "resources" not in check_container(doc) and pod_of(doc)["initContainers"][0]["name"] == "check"


def test_schema_catches_a_misspelt_field():
    """The schema above is able to fail: the manifest's checks are not vacuous."""
    _, doc = k8s("--nodes", "2")
    pod_of(doc)["nodeselector"] = pod_of(doc).pop("nodeSelector")
    assert list(K8S.iter_errors(doc))


def test_manifest_command_runs_in_a_real_shell_and_exits_0_on_errors(tmp_path):
    """The container's command, run by sh with a fake ``trtdoctor`` that fails like a check with errors."""
    import subprocess

    _, doc = k8s("--nodes", "1", "--timeout", "5")
    fake = tmp_path / "trtdoctor"
    fake.write_text('#!/bin/sh\necho \'{"schema": "x"}\'\n[ "$*" = "check --json" ] || echo "bad args: $*" >&2\nexit 1\n')
    fake.chmod(0o755)
    res = subprocess.run(check_container(doc)["command"], capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"})
    assert res.returncode == 0 and res.stdout.strip() == '{"schema": "x"}'
    assert "check exited 1" in res.stderr and "bad args" not in res.stderr


@pytest.mark.parametrize(
    "args, words",
    [
        (["--kind", "daemonset", "--nodes", "3"], "--nodes N goes with --kind job"),
        ([], "--nodes N goes with --kind job"),
        (["--nodes", "2", "--name", "Bad_Name"], "is not a Kubernetes name"),
        (["--nodes", "2", "--node-selector", "novalue"], "KEY=VALUE"),
    ],
)
def test_k8s_bad_input(args, words):
    res = run_cli("fleet", "k8s", "--image", "x", *args)
    assert res.returncode == 2 and words in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_k8s_out_never_overwrites(tmp_path):
    mine = tmp_path / "fleet.yaml"
    mine.write_text("someone else's\n")
    res = run_cli("fleet", "k8s", "--image", "x", "--nodes", "1", "--out", str(mine))
    assert res.returncode == 2 and mine.read_text() == "someone else's\n"
    new = tmp_path / "new.yaml"
    assert run_cli("fleet", "k8s", "--image", "x", "--nodes", "1", "--out", str(new)).returncode == 0
    valid(K8S, next(d for d in yaml.safe_load_all(new.read_text()) if d))


def test_fleet_imports_stay_out_of_check():
    """`trtdoctor check` does not pay for the fleet package or yaml dumping."""
    code = "import sys, trtdoctor.cli; print(any(m.startswith('trtdoctor.fleet') for m in sys.modules))"
    import subprocess

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.stdout.strip() == "False", res.stderr
