"""``fleet k8s``: the manifest of a Kubernetes Job (one pod on each of N GPU nodes) or
DaemonSet (a pod on every matching node) whose pod logs are ``trtdoctor check --json``
reports; its header says how to apply it, collect the logs and summarise them.
"""

from __future__ import annotations

import re

from ..report import HOST_VAR

APP_LABEL = "app.kubernetes.io/name"
DEFAULT_SELECTOR = {"nvidia.com/gpu.present": "true"}  # set by NVIDIA GPU feature discovery / the GPU operator
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
KILL_AFTER = 5


def _labels(name: str) -> dict:
    """A new dict each time: shared ones would come out as YAML anchors and aliases."""
    return {APP_LABEL: name}


def _command(timeout: float) -> list[str]:
    """Exit 0 even on errors: a failed check is data, and a failing pod would be retried or
    stop the Job's other pods."""
    return ["sh", "-c", f'timeout -k {KILL_AFTER} {timeout:g} trtdoctor check --json || echo "trtdoctor fleet: check exited $?" >&2']


def _check_container(image: str, gpus: int, timeout: float) -> dict:
    c = {
        "name": "check",
        "image": image,
        "command": _command(timeout),
        # the pod's own host name is the pod's: the report names the node instead
        "env": [{"name": HOST_VAR, "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
    }
    if gpus:
        c["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    return c


def _pod_spec(selector: dict, container: dict) -> dict:
    return {"nodeSelector": dict(selector), "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}], "containers": [container]}


def job(name: str, image: str, nodes: int, selector: dict, gpus: int, timeout: float) -> dict:
    """N pods, never two on one node (pod anti-affinity on the host name label)."""
    spec = _pod_spec(selector, _check_container(image, gpus, timeout))
    spec["restartPolicy"] = "Never"
    spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {"matchLabels": _labels(name)}, "topologyKey": "kubernetes.io/hostname"}]}}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {"completions": nodes, "parallelism": nodes, "backoffLimit": 0, "template": {"metadata": {"labels": _labels(name)}, "spec": spec}},
    }


def daemonset(name: str, image: str, selector: dict, gpus: int, timeout: float) -> dict:
    """The check as an init container (its log is the report), then an idle container, since
    a DaemonSet restarts any container that exits."""
    check = _check_container(image, gpus, timeout)
    spec = _pod_spec(selector, {"name": "idle", "image": image, "command": ["sleep", "infinity"]})
    spec["initContainers"] = [check]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": _labels(name)},
        "spec": {"selector": {"matchLabels": _labels(name)}, "template": {"metadata": {"labels": _labels(name)}, "spec": spec}},
    }


def header(name: str, kind: str, namespace: str | None) -> str:
    ns = f" -n {namespace}" if namespace else ""
    done = f"kubectl{ns} wait --for=condition=complete --timeout=30m job/{name}" if kind == "Job" else f"kubectl{ns} rollout status --timeout=30m daemonset/{name}"
    pods = f"kubectl{ns} get pods -l {APP_LABEL}={name} -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.spec.nodeName}}{{\"\\n\"}}{{end}}'"
    lines = [
        f"trtdoctor fleet: a {kind} running `trtdoctor check --json` on GPU nodes.",
        f"  kubectl{ns} apply -f THIS_FILE",
        f"  {done}",
        f'  mkdir reports && {pods} | while read -r pod node; do kubectl{ns} logs "$pod" -c check > "reports/$node.json"; done',
        "  trtdoctor fleet summary reports/",
        f"  kubectl{ns} delete -f THIS_FILE" + ("   # the idle pods keep the GPU they asked for until then" if kind == "DaemonSet" else ""),
    ]
    return "".join(f"# {line}\n" for line in lines)


def manifest(kind: str, name: str, image: str, *, nodes: int | None, selector: dict | None, gpus: int, timeout: float, namespace: str | None) -> str:
    """The manifest as YAML text, commented with how to use it."""
    import yaml  # only this command needs it

    selector = selector or DEFAULT_SELECTOR
    doc = job(name, image, nodes, selector, gpus, timeout) if kind == "job" else daemonset(name, image, selector, gpus, timeout)
    if namespace:
        doc["metadata"]["namespace"] = namespace
    return header(name, doc["kind"], namespace) + "---\n" + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
