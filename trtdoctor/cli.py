"""The command line: ``trtdoctor check``, ``fix``, ``smoke`` and ``fleet``.

Written with argparse rather than typer/click: the core must start fast (a static check
has 0.2 s in all), and typer ≥ 0.29 imports pydantic and asyncio while parsing (about
150 ms here) — more than the whole check costs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
from pathlib import Path

from . import __version__
from .escape import json_text, map_strings, visible
from .redact import mask_text
from .target import Target, UsageError, build_env

SHELLS = ("bash", "zsh", "fish", "csh", "tcsh")  # the same as fix.dialects.SHELLS, which is not imported at startup
AREAS_HELP = "os, driver, gpus, env, libraries, tensorrt, tensorflow, pycuda, onnxruntime, precision"

CHECK_EXAMPLES = f"""examples:
  trtdoctor check                        judge this machine
  trtdoctor check -v                     with resolution chains and the precision table
  trtdoctor check --json > report.json   the report as data (schema trtdoctor.report/1)
  trtdoctor check --root /mnt/image      judge a mounted root file system (reads files only)
  trtdoctor check --only tensorrt        one area (or a finding id; see --list-checks)
  trtdoctor check --explain libcudnn.so.9
  trtdoctor check --engine model.plan    can this machine load this engine?

areas: {AREAS_HELP}
exit codes: 0 no errors; 1 errors, or areas that could not be checked (--strict: warnings too); 2 usage"""


TOP_EXAMPLES = f"""examples:
  trtdoctor check                          what is wrong with this machine's TensorRT stack?
  trtdoctor fix                            the ordered plan to fix it
  trtdoctor fix --write-env                write its environment part (venv, conda or a shell file)
  trtdoctor fix --recipe docker            a known-good stack for this driver and GPU
  trtdoctor smoke --precision fp16         prove it works (needs: pip install 'trtdoctor[smoke]')

areas: {AREAS_HELP}
Each command has its own --help."""

FIX_EXAMPLES = """examples:
  trtdoctor fix                                   the plan (--format json|markdown)
  trtdoctor fix --write-env --dry-run             show what would be written
  trtdoctor fix --write-env                       into the active venv (activate, .fish, .csh) or conda env
  trtdoctor fix --write-env --shell tcsh --shell-file ~/trt.csh
  trtdoctor fix --undo                            take it out again
  trtdoctor fix --recipe docker                   into ./trt-<stack>-cu<N>-docker (never over your files)
  trtdoctor fix --recipe pip --out ./stack --force"""


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line on stderr and exit 2, like every expected failure."""

    def error(self, message: str) -> None:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text[:20]!r}") from None
    if not math.isfinite(value) or value <= 0 or value > 3600:
        raise argparse.ArgumentTypeError("must be a number of seconds above 0 and at most 3600")
    return value


def count(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:20]!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}")
        return value

    return parse


def python_version(text: str) -> str:
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"expected a Python version like 3.12, got {text[:20]!r}")
    return text


def _target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", type=Path, help="judge a mounted rootfs, chroot or test tree (static mode: reads files only)")
    p.add_argument("--env-file", metavar="FILE", help="KEY=VALUE lines: the environment to judge")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="a variable of the environment to judge (repeatable)")
    p.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS", help="the most each probe may take (default 10)")


def build_parser() -> Parser:
    top = Parser(prog="trtdoctor", description="Find out why TensorRT does not work here, and fix it.", epilog=TOP_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"trtdoctor {__version__}")
    sub = top.add_subparsers(dest="command", metavar="{check,fix,smoke,fleet}", parser_class=Parser)
    fmt = argparse.RawDescriptionHelpFormatter

    c = sub.add_parser("check", help="diagnose the GPU / CUDA / cuDNN / TensorRT stack", description="Diagnose the GPU / CUDA / cuDNN / TensorRT stack.", epilog=CHECK_EXAMPLES, formatter_class=fmt)
    c.add_argument("--format", "-f", choices=("text", "json", "markdown"), default="text", help="markdown is ready to paste into a bug report")
    c.add_argument("--json", dest="format", action="store_const", const="json", help="shorthand for --format json")
    c.add_argument("-v", "--verbose", action="store_true", help="details, resolution chains, precision table")
    _target_options(c)
    c.add_argument("--from", dest="from_", metavar="REPORT", help="re-run the rules on a saved JSON report")
    c.add_argument("--only", action="append", default=[], metavar="AREA|ID", help="only these areas or finding ids (repeatable)")
    c.add_argument("--skip", action="append", default=[], metavar="AREA|ID", help="skip these areas or finding ids (repeatable)")
    c.add_argument("--list-checks", action="store_true", help="list every finding id with its area, severity and one line (--json for data)")
    c.add_argument("--strict", action="store_true", help="exit 1 on warnings too")
    c.add_argument("--python", metavar="PATH", help="also judge this interpreter's environment")
    c.add_argument("--explain", metavar="SONAME", help="print the full loader search for one soname")
    c.add_argument("--engine", type=Path, metavar="FILE", help="can this machine's TensorRT and GPU load this engine?")
    c.set_defaults(handler=cmd_check)

    f = sub.add_parser(
        "fix",
        help="an ordered plan for the findings; --write-env applies its environment part",
        description="Turn the findings into an ordered plan; --write-env applies its environment part.",
        epilog=FIX_EXAMPLES,
        formatter_class=fmt,
    )
    f.add_argument("--format", "-f", choices=("text", "json", "markdown"), default="text", help="json: the plan as data (schema trtdoctor.plan/1); markdown: ready to paste")
    f.add_argument("--from", dest="from_", metavar="REPORT", help="plan from a saved JSON report instead of a fresh check")
    f.add_argument("--write-env", action="store_true", help="write the environment part of the plan")
    f.add_argument("--dry-run", action="store_true", help="with --write-env/--undo: show the diff, write nothing")
    f.add_argument("--undo", action="store_true", help="remove what --write-env wrote")
    f.add_argument("--shell", choices=SHELLS, default="bash", help="the shell of the file to source (csh and tcsh write setenv lines)")
    f.add_argument("--shell-file", metavar="PATH", help="write a file to source instead of activation hooks (a path on this machine, also with --root)")
    f.add_argument("--recipe", choices=("conda", "docker", "pip"), help="write a known-good stack")
    f.add_argument("--out", type=Path, metavar="DIR", help="the folder --recipe writes into (default: a new folder named after the stack, e.g. ./trt-tensorrt-cu13-pip)")
    f.add_argument("--force", action="store_true", help="with --recipe: replace files in --out that trtdoctor did not write")
    f.add_argument("--stack", choices=("tensorrt", "tf-trt"), default="tensorrt")
    f.add_argument("--tensorrt", metavar="VERSION", help="TensorRT version for --recipe")
    f.add_argument("--python", type=python_version, metavar="X.Y", help="Python version for --recipe")
    _target_options(f)
    f.set_defaults(handler=cmd_fix)

    from .smoke.sweep import parse_batches, parse_precisions

    s = sub.add_parser(
        "smoke",
        help="build, validate and benchmark a model (the reference one or yours): proof that the stack works",
        description="Build, validate and benchmark a model (the reference one, your ONNX file or SavedModel): proof that the stack works.",
        epilog=(
            "examples:\n  trtdoctor smoke --precision fp16\n"
            "  trtdoctor smoke --model model.onnx --min-shapes input_1:1x384x384x3 --opt-shapes input_1:10x384x384x3 --max-shapes input_1:32x384x384x3 --batch 1,10,32 --precision fp32,fp16,int8 --calib-data calib/\n"
            "  trtdoctor smoke --model model.onnx --precision int8 --export out/    # no GPU or TensorRT needed\n"
            "  trtdoctor smoke --backend tf-trt --model saved_model/ --precision fp16"
        ),
        formatter_class=fmt,
    )
    s.add_argument("--precision", type=parse_precisions, default="fp16", metavar="fp32|fp16|int8|best[,...]", help="a comma list sweeps: one engine per precision (default fp16)")
    s.add_argument("--model", default="reference", metavar="reference|PATH.onnx|SAVEDMODEL_DIR")
    s.add_argument("--backend", choices=("auto", "tensorrt", "tf-trt", "tensorrt-rtx"), default="auto")
    s.add_argument("--batch", type=parse_batches, default="8", metavar="N[,N...]", help="a comma list sweeps, e.g. 1,10,32: each batch runs on the same engine (default 8)")
    s.add_argument("--iterations", type=count(1), default=200)
    s.add_argument("--warmup", type=count(0), default=20)
    s.add_argument("--device", type=count(0), default=0)
    s.add_argument("--shapes", metavar="NAME:DIMS[,...]", help="run shape of inputs, trtexec's grammar, e.g. input_1:8x384x384x3")
    s.add_argument("--min-shapes", metavar="NAME:DIMS[,...]", help="profile minimum (with --opt-shapes and --max-shapes)")
    s.add_argument("--opt-shapes", metavar="NAME:DIMS[,...]", help="profile optimum, the shape that is run")
    s.add_argument("--max-shapes", metavar="NAME:DIMS[,...]", help="profile maximum")
    s.add_argument("--input-data", metavar="FILE.npz", help="the inputs to run, one array per input name (seeded random otherwise)")
    s.add_argument("--export", metavar="DIR", help="write the FP32/FP16/Q-DQ INT8 models, shapes and their onnxruntime accuracy; needs no TensorRT")
    s.add_argument("--calib-data", metavar="DIR|FILE.npz", help="INT8 calibration inputs: an .npz (first axis: samples) or a folder of them")
    s.add_argument("--calibrator", choices=("entropy", "minmax"), help="TensorRT calibrator for implicit INT8 (default: entropy); explicit Q/DQ models take onnxruntime MinMax ranges")
    s.add_argument("--calib-cache", metavar="FILE", help="TensorRT calibration cache: read when it exists (no data needed), written after a calibration")
    s.add_argument("--quantization", choices=("explicit", "implicit"), help="INT8 from Q/DQ nodes or from a calibrator (default: explicit where TensorRT deprecated or removed calibrators, per the kb)")
    s.add_argument("--min-segment-size", type=count(1), metavar="N", help="TF-TRT: the fewest ops a TensorRT segment may hold (TensorFlow's default otherwise)")
    s.add_argument("--engine-cache", metavar="DIR", help="where engines, sidecars and the timing cache go")
    s.add_argument("--workspace", type=count(1), metavar="MiB", help="the most scratch memory any layer may use while building (TensorRT's default: the whole GPU; TF-TRT: max_workspace_size_bytes)")
    s.add_argument("-v", "--verbose", action="store_true", help="keep TensorRT's INFO and VERBOSE log: on stderr as it comes (text), in build.log (json)")
    s.add_argument("--no-trtexec", dest="trtexec", action="store_false", help="do not run trtexec beside ours, even where it is on PATH")
    s.add_argument("--trtexec-timeout", type=seconds, default=600.0, metavar="SECONDS", help="the most one trtexec call may take (default 600)")
    s.add_argument("--cuda-graph", action="store_true", help="capture the inference in a CUDA graph")
    s.add_argument("--no-transfers", action="store_true", help="keep data on the device while timing")
    s.add_argument("--force", action="store_true", help="go on despite preflight findings or a refused precision")
    s.add_argument("--format", "-f", choices=("text", "json"), default="text")
    s.add_argument("--from", dest="from_", metavar="REPORT", help="preflight from a saved report instead of a fresh check")
    s.add_argument("--timeout", type=seconds, default=10.0, metavar="SECONDS")
    s.set_defaults(handler=cmd_smoke)
    _fleet_parser(sub, fmt)
    return top


FLEET_EXAMPLES = """examples:
  trtdoctor fleet slurm --nodes 16 --partition gpu --python /shared/venv/bin/python
  trtdoctor fleet slurm --nodelist 'node[01-16]' --out /shared/fleet -- --account=ml
  trtdoctor fleet k8s --image registry.example.com/trtdoctor:latest --nodes 8 > fleet.yaml
  trtdoctor fleet summary reports/          (or report files; --format json: trtdoctor.fleet/1)

exit codes: 0 every node passed; 1 a node has errors, areas not checked, or no report; 2 usage"""


def _fleet_parser(sub, fmt) -> None:
    fl = sub.add_parser(
        "fleet",
        help="check every GPU node of a Slurm or Kubernetes cluster and name the odd ones",
        description="Check every GPU node of a cluster and name the nodes that differ.",
        epilog=FLEET_EXAMPLES,
        formatter_class=fmt,
    )
    how = fl.add_subparsers(dest="fleet_command", metavar="{slurm,k8s,summary}", parser_class=Parser, required=True)
    sm = how.add_parser("summary", help="the majority configuration and every node that differs")
    sm.add_argument("paths", nargs="+", metavar="FILE|DIR", help="reports, or directories of *.json reports")
    sm.add_argument("--format", "-f", choices=("text", "json"), default="text", help="json: schema trtdoctor.fleet/1")
    sl = how.add_parser("slurm", help="run the check once per node through srun, then summarise", epilog="Arguments after -- go to srun as they are.")
    sl.add_argument("--nodes", type=count(1), metavar="N")
    sl.add_argument("--partition", metavar="NAME")
    sl.add_argument("--nodelist", metavar="LIST", help="Slurm node list, e.g. node[01-16]")
    sl.add_argument("--time", metavar="LIMIT", help="srun --time (the job's limit)")
    sl.add_argument("--python", default=sys.executable, metavar="PATH", help=f"the interpreter the nodes run, with trtdoctor importable (default {sys.executable})")
    sl.add_argument("--install", metavar="DIR", help="put this trtdoctor checkout or install first on the nodes' PYTHONPATH")
    sl.add_argument("--out", type=Path, metavar="DIR", help="a new directory on a shared file system for <node>.json and <node>.err (default ./trtdoctor-fleet-<time>)")
    sl.add_argument("--timeout", type=seconds, default=120.0, metavar="SECONDS", help="the most each node's check may take (default 120)")
    sl.add_argument("--queue-wait", type=seconds, default=300.0, metavar="SECONDS", help="the most srun may wait for the nodes (default 300)")
    sl.add_argument("--format", "-f", choices=("text", "json"), default="text")
    sl.add_argument("srun_args", nargs="*", metavar="-- SRUN_ARG", help="more srun arguments")
    k8 = how.add_parser("k8s", help="write a Job or DaemonSet manifest that runs the check on GPU nodes")
    k8.add_argument("--image", required=True, help="the image built from trtdoctor's Dockerfile, where the nodes can pull it")
    k8.add_argument("--kind", choices=("job", "daemonset"), default="job", help="job: one pod on each of --nodes nodes; daemonset: every matching node")
    k8.add_argument("--nodes", type=count(1), metavar="N", help="with --kind job: how many nodes")
    k8.add_argument("--name", default="trtdoctor-fleet", help="the object's name and app label")
    k8.add_argument("--namespace", metavar="NS")
    k8.add_argument("--node-selector", action="append", default=[], metavar="KEY=VALUE", help="(repeatable; default nvidia.com/gpu.present=true)")
    k8.add_argument("--gpus", type=count(0), default=1, help="nvidia.com/gpu limit of the check (default 1)")
    k8.add_argument("--timeout", type=seconds, default=120.0, metavar="SECONDS", help="the most each node's check may take (default 120)")
    k8.add_argument("--out", type=Path, metavar="FILE", help="write a new file instead of stdout")
    fl.set_defaults(handler=cmd_fleet)


def cmd_fleet(a: argparse.Namespace) -> int:
    from .fleet import summary

    if a.fleet_command == "k8s":
        return _fleet_k8s(a)
    if a.fleet_command == "slurm":
        from .fleet import slurm

        req = slurm.Request(
            out=a.out or slurm.default_out(), python=a.python, nodes=a.nodes, partition=a.partition, nodelist=a.nodelist, time=a.time, install=a.install, timeout=a.timeout, queue_wait=a.queue_wait, extra=a.srun_args
        )
        doc = slurm.run(req)
    else:
        doc = summary.summarize_paths(a.paths)
    out(json_text(doc) if a.format == "json" else summary.text(doc))
    return summary.exit_code(doc)


def _fleet_k8s(a: argparse.Namespace) -> int:
    from .fleet import k8s

    if (a.kind == "job") != (a.nodes is not None):
        raise UsageError("--nodes N goes with --kind job (a DaemonSet runs on every matching node)")
    if not k8s.DNS_LABEL.match(a.name):
        raise UsageError(f"--name {a.name[:40]!r} is not a Kubernetes name (lower-case letters, digits and '-', at most 63)")
    selector = dict(kv.split("=", 1) for kv in a.node_selector if "=" in kv)
    if len(selector) != len(a.node_selector):
        raise UsageError("--node-selector takes KEY=VALUE")
    text = k8s.manifest(a.kind, a.name, a.image, nodes=a.nodes, selector=selector, gpus=a.gpus, timeout=a.timeout, namespace=a.namespace)
    if a.out is None:
        out(text, end="")
        return 0
    try:
        with open(a.out, "x", encoding="utf-8") as fh:  # a new file only: never one we did not create
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"--out {a.out}: {exc.strerror}") from None
    out(f"wrote {a.out}")
    return 0


def out(text: str = "", end: str = "\n") -> None:
    sys.stdout.write(text + end)


def make_target(root: Path | None, env_file: str | None, env: list[str], timeout: float, python: str | None = None) -> Target:
    live = root is None or str(root.resolve()) == "/"
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {root} is not a directory")
    return Target(root=(root.resolve() if root else Path("/")), env=build_env(live=live, env_file=env_file, env_items=env), live=live, timeout=timeout, python=python)


def exit_code(summary: dict, strict: bool) -> int:
    """1 on errors or an incomplete check (with --strict, warnings too), else 0."""
    if summary["errors"] or summary.get("incomplete") or (strict and summary["warnings"]):
        return 1
    return 0


def checks_listing(as_json: bool) -> str:
    from .rules import all_checks

    rows = sorted(all_checks().values(), key=lambda c: c.id)
    if as_json:
        return json.dumps([{"id": c.id, "area": c.area, "severity": c.severity, "title": c.title, "follows": list(c.follows)} for c in rows], indent=2)
    return "\n".join(f"{c.id:<40} {c.area:<12} {c.severity:<14} {c.title}" for c in rows)


def _progress():
    """On a terminal: what is still running after 2 s, so a slow probe is never a mystery."""
    if not sys.stderr.isatty():
        return None

    def progress(running: list, elapsed: float) -> None:
        if elapsed >= 2:
            line = f"  waiting for {', '.join(running)}…"[: shutil.get_terminal_size().columns - 1]
            sys.stderr.write("\r\x1b[K" + line)

    return progress


def cmd_check(a: argparse.Namespace) -> int:
    target = None
    if not (a.from_ or a.list_checks or a.explain):
        target = make_target(a.root, a.env_file, a.env, a.timeout, a.python)
        if not (a.only or a.skip):  # the slowest child starts while the rest is imported
            from .probes.live_gpu import prefetch

            prefetch(target)
    from . import engine as run
    from . import render, report
    from .rules import select

    if a.list_checks:
        out(checks_listing(a.format == "json"))
        return 0
    selection = select(a.only, a.skip)
    saved = report.load(a.from_) if a.from_ else {}
    if a.from_:
        rep, findings = run.recheck(saved, selection)
    else:
        target = target or make_target(a.root, a.env_file, a.env, a.timeout, a.python)
        if a.explain:
            out(_explain(target, a.explain))
            return 0
        progress = _progress() if a.format == "text" else None
        rep, findings = run.check(target, selection, progress)
        if progress:
            sys.stderr.write("\r\x1b[K")
    if a.engine is not None:
        rep, findings = _judge_engine(a, rep, findings, target)
    if "undecodable" in saved:  # its names still hold the \xNN spellings
        rep["undecodable"] = saved["undecodable"]
    if a.format == "json":
        out(json_text(rep))
    elif a.format == "markdown":
        out(render.markdown(rep, findings))
    else:
        out(render.text(rep, findings, a.verbose))
    return exit_code(rep["summary"], a.strict)


def _judge_engine(a: argparse.Namespace, rep: dict, findings: list, target: Target | None) -> tuple[dict, list]:
    """Add the engine's verdict and findings to the report (its areas judged again)."""
    from . import report
    from .areas import verdicts
    from .smoke import engine_compat

    live = target is not None and target.live
    why = "this re-checks a saved report, so the engine was not deserialized" if a.from_ else f"this is a static check of {a.root}, so the engine was not deserialized"
    verdict, extra = engine_compat.judge(a.engine, rep["snapshot"], live=live, python=(target.python or sys.executable) if live else None, env=target.env if live else None, timeout=a.timeout, not_live=why)
    findings = findings + extra
    could_not_check = rep["summary"]["could_not_check"]
    areas = verdicts(rep["snapshot"], findings, could_not_check, list(rep["areas"]))
    rep = report.build(rep["snapshot"], findings, rep["target"], areas, rep.get("provenance"))
    rep["engine"] = verdict
    return rep, findings


def cmd_fix(a: argparse.Namespace) -> int:
    from . import engine as run
    from . import report
    from .fix import recipes, writers
    from .fix.plan import build_plan, plan_markdown, plan_text

    try:
        target = make_target(a.root, a.env_file, a.env, a.timeout)
        rep = report.load(a.from_) if a.from_ else run.check(target)[0]
        if a.recipe:
            choice = recipes.choose(rep["snapshot"], a.stack, a.tensorrt, a.python)
            folder = a.out or Path(recipes.default_folder(a.recipe, choice))
            for line in recipes.write(recipes.render(a.recipe, choice), folder, force=a.force):
                out(line)
            out("why: " + "; ".join(choice["why"]))
            return 0
        plan = build_plan(rep)
        if a.write_env or a.undo:
            return _write_env(plan, target, a)
    except (writers.FixError, recipes.RecipeError) as exc:
        raise UsageError(str(exc)) from None
    if a.format == "json":
        out(json_text(plan))
    elif a.format == "markdown":
        out(plan_markdown(plan))
    else:
        out(plan_text(map_strings(plan, visible)))
        if plan["env"]["prepend"] or plan["env"]["set"]:
            out("Apply the environment changes with: trtdoctor fix --write-env (add --dry-run to preview)")
    return 0


def _write_env(plan: dict, target: Target, a: argparse.Namespace) -> int:
    from .fix import writers

    if not a.undo and not writers.has_changes(plan["env"]):
        out("The plan has no environment change: nothing to write.")
        return 0
    root = None if target.live else target.root  # static: write inside the root, never on the host
    where, wp = writers.plan_writes(plan["env"], target.env, sh=a.shell, shell_file=a.shell_file, undo=a.undo, root=root)
    wp.check()  # a refusal comes before any diff is printed
    diffs = [c.diff() for c in wp.changes if c.changes]
    if not diffs:
        out(f"{where.what}: already up to date, nothing to change")
        return 0
    out("".join(diffs), end="")
    if a.dry_run:
        out("(dry run: nothing written)")
        return 0
    for line in wp.apply():
        out(line)
    out(f"Apply it in this shell now: {where.apply}")
    return 0


def cmd_smoke(a: argparse.Namespace) -> int:
    from . import engine as run
    from . import report
    from .smoke.inputs import BadInput
    from .smoke.runner import smoke as do_smoke
    from .smoke.runner import smoke_text

    if a.from_:
        rep, findings = run.recheck(report.load(a.from_))
    else:
        rep, findings = run.check(make_target(None, None, [], a.timeout))
    keys = ("precision", "model", "backend", "batch", "iterations", "warmup", "device", "engine_cache", "cuda_graph", "no_transfers", "force")
    opts = {k: getattr(a, k) for k in keys + ("shapes", "min_shapes", "opt_shapes", "max_shapes", "input_data", "export", "calib_data", "calibrator", "calib_cache", "quantization", "min_segment_size")}
    opts |= {"precisions": a.precision, "precision": a.precision[0], "batches": a.batch, "batch": a.batch[0], "workspace": a.workspace, "verbose": a.verbose}
    opts |= {"trtexec": a.trtexec, "trtexec_timeout": a.trtexec_timeout}
    if a.verbose and a.format == "text":
        opts["echo"] = lambda line: print(visible(line), file=sys.stderr, flush=True)
    try:
        result = do_smoke(rep, findings, opts)
    except BadInput as exc:
        raise UsageError(str(exc)) from None
    out(json_text(result) if a.format == "json" else smoke_text(map_strings(result, visible)))
    return 0 if result["result"] == "PASS" else 1


def _explain(target: Target, soname: str) -> str:
    from . import render
    from .loader import LoaderModel
    from .probes import collect
    from .probes.libraries import Places, _copies

    snap = collect(target, {"libraries"})
    machine = (snap.get("os") or {}).get("arch") or "x86-64"
    model = LoaderModel(target, machine)
    res = model.resolve(soname)
    places = Places(target, snap, model)
    cons = (snap.get("libraries") or {}).get("consumers") or []
    pre = [(c, c["resolutions"][soname]) for c in cons if (c.get("resolutions") or {}).get(soname, {}).get("preloaded_by")]
    text = render.explain(soname, res, _copies(target, soname, places, model), pre)
    if target.live and res.found:
        from .probes.libraries import live_dlopen

        lv = live_dlopen(target, [soname]).get(soname) or {}
        agrees = lv.get("loaded") and Path(lv["loaded"]).resolve() == target.path(res.path).resolve()
        text += "\n" + visible(mask_text(f"Real loader: {lv.get('loaded') or lv.get('error')}")) + (" (agrees)" if agrees else "")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        return args.handler(args)
    except UsageError as exc:
        print(f"trtdoctor: {visible(mask_text(str(exc)))}", file=sys.stderr)  # one line, whatever a path held
        return 2


def run() -> None:
    """Entry point: expected failures are one line; anything else is exit 2, not a traceback."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        from .subproc import kill_all

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        kill_all()  # the children run in sessions of their own: Ctrl-C never reached them
        print("trtdoctor: interrupted", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # do not wait for probe threads: what they wait on is dead, what they would do next is not wanted
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # noqa: BLE001
        print(f"trtdoctor: internal error: {type(exc).__name__}: {visible(mask_text(str(exc)))} (please report with `trtdoctor check --json`)", file=sys.stderr)
        sys.exit(2)
