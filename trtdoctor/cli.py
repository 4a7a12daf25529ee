"""The command line: ``trtdoctor check``, ``fix`` and ``smoke``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import List, Optional

import typer

from . import __version__
from .target import Target, UsageError, build_env

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Find out why TensorRT does not work here, and fix it.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trtdoctor {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version.")) -> None:
    pass


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"trtdoctor: {message}", err=True)
    raise typer.Exit(code)


def make_target(root: Optional[Path], env_file: Optional[str], env: List[str], timeout: float, python: Optional[str] = None) -> Target:
    live = root is None or str(root.resolve()) == "/"
    if root is not None and not root.is_dir():
        raise UsageError(f"--root {root} is not a directory")
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    return Target(root=(root.resolve() if root else Path("/")), env=build_env(live=live, env_file=env_file, env_items=env), live=live, timeout=timeout, python=python)


def exit_code(summary: dict, strict: bool) -> int:
    if summary["errors"] or (strict and summary["warnings"]):
        return 1
    return 0


@app.command()
def check(
    format: str = typer.Option("text", "--format", "-f", help="text, json or markdown."),
    json_: bool = typer.Option(False, "--json", help="Shorthand for --format json."),
    verbose: bool = typer.Option(False, "-v", "--verbose", help="Details, resolution chains, precision table."),
    root: Optional[Path] = typer.Option(None, "--root", help="Judge a mounted rootfs, chroot or test tree (static mode)."),
    env_file: Optional[str] = typer.Option(None, "--env-file", help="KEY=VALUE lines: the environment to judge."),
    env: List[str] = typer.Option([], "--env", help="KEY=VALUE to judge (repeatable)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Re-run the rules on a saved JSON report."),
    only: List[str] = typer.Option([], "--only", help="Only these areas (repeatable)."),
    skip: List[str] = typer.Option([], "--skip", help="Skip these areas (repeatable)."),
    list_checks: bool = typer.Option(False, "--list-checks", help="List the checks and exit."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 on warnings too."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds each probe may take."),
    python: Optional[str] = typer.Option(None, "--python", help="Also judge this interpreter's environment."),
    explain: Optional[str] = typer.Option(None, "--explain", help="Print the full loader search for one soname."),
    engine: Optional[Path] = typer.Option(None, "--engine", help="Can this machine load this TensorRT engine?"),
) -> None:
    """Diagnose the GPU / CUDA / cuDNN / TensorRT stack."""
    from . import engine as run
    from . import render, report
    from .rules import all_rules

    try:
        fmt = "json" if json_ else format
        if fmt not in ("text", "json", "markdown"):
            raise UsageError(f"unknown --format {fmt!r}: use text, json or markdown")
        if list_checks:
            for r in all_rules():
                typer.echo(f"{r.id:<36} {r.area:<12} {r.title}")
            return
        areas = run.select_areas(only, skip)
        if from_:
            rep, findings = run.recheck(report.load(from_), areas)
        else:
            target = make_target(root, env_file, env, timeout, python)
            if explain:
                _explain(target, explain)
                return
            progress = None
            if fmt == "text" and sys.stderr.isatty():

                def progress(running: list, elapsed: float) -> None:
                    if elapsed >= 2:  # name what is still running once it takes a while
                        line = f"  waiting for {', '.join(running)}…"[: shutil.get_terminal_size().columns - 1]
                        typer.echo("\r\x1b[K" + line, err=True, nl=False)

            rep, findings = run.check(target, areas, progress)
            if progress:
                typer.echo("\r\x1b[K", err=True, nl=False)
        if engine is not None:
            from .smoke.engine_compat import engine_findings

            findings = findings + engine_findings(engine, rep["snapshot"])
            rep = report.build(rep["snapshot"], findings, rep["target"])
    except UsageError as exc:
        fail(str(exc))
    shown = sorted(areas) if areas else None
    if fmt == "json":
        typer.echo(json.dumps(rep, indent=2, default=str))
    elif fmt == "markdown":
        typer.echo(render.markdown(rep, findings))
    else:
        typer.echo(render.text(rep, findings, verbose, shown))
    raise typer.Exit(exit_code(rep["summary"], strict))


@app.command()
def fix(
    format: str = typer.Option("text", "--format", "-f", help="text or json (the plan as data)."),
    from_: Optional[str] = typer.Option(None, "--from", help="Plan from a saved JSON report instead of a fresh check."),
    write_env: bool = typer.Option(False, "--write-env", help="Write the environment part of the plan."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --write-env/--undo: show the diff, write nothing."),
    undo: bool = typer.Option(False, "--undo", help="Remove what --write-env wrote."),
    shell: str = typer.Option("bash", "--shell", help="bash, zsh or fish (for a shell file)."),
    shell_file: Optional[str] = typer.Option(None, "--shell-file", help="Write a file to source instead of activation hooks."),
    recipe: Optional[str] = typer.Option(None, "--recipe", help="Write a known-good stack: conda, docker or pip."),
    out: Path = typer.Option(Path("."), "--out", help="Where --recipe writes."),
    stack: str = typer.Option("tensorrt", "--stack", help="tensorrt or tf-trt."),
    tensorrt: Optional[str] = typer.Option(None, "--tensorrt", help="TensorRT version for --recipe."),
    python: Optional[str] = typer.Option(None, "--python", help="Python version for --recipe."),
    root: Optional[Path] = typer.Option(None, "--root", help="Judge a mounted rootfs (static mode)."),
    env_file: Optional[str] = typer.Option(None, "--env-file", help="KEY=VALUE lines: the environment to judge."),
    env: List[str] = typer.Option([], "--env", help="KEY=VALUE to judge (repeatable)."),
    timeout: float = typer.Option(10.0, "--timeout", help="Seconds each probe may take."),
) -> None:
    """Turn the findings into an ordered plan; --write-env applies its environment part."""
    from . import engine as run
    from . import report
    from .fix import recipes, writers
    from .fix.plan import build_plan, plan_text

    try:
        if shell not in ("bash", "zsh", "fish"):
            raise UsageError(f"unknown --shell {shell!r}: use bash, zsh or fish")
        target = make_target(root, env_file, env, timeout)
        rep = report.load(from_) if from_ else run.check(target)[0]
        if recipe:
            choice = recipes.choose(rep["snapshot"], stack, tensorrt, python)
            for p in recipes.write(recipes.render(recipe, choice), out):
                typer.echo(f"wrote {p}")
            typer.echo("why: " + "; ".join(choice["why"]))
            return
        plan = build_plan(rep)
        if write_env or undo:
            where, wp = writers.plan_writes(plan["env"], target.env, shell=shell, shell_file=shell_file, undo=undo)
            diffs = [c.diff() for c in wp.changes if c.changes]
            if not diffs:
                typer.echo(f"{where}: already up to date, nothing to change")
                return
            typer.echo("".join(diffs), nl=False)
            if dry_run:
                typer.echo("(dry run: nothing written)")
                return
            for line in wp.apply():
                typer.echo(line)
            return
    except (UsageError, writers.FixError, recipes.RecipeError) as exc:
        fail(str(exc))
    if format == "json":
        typer.echo(json.dumps(plan, indent=2))
    else:
        typer.echo(plan_text(plan))
        if plan["env"]["prepend"] or plan["env"]["set"]:
            typer.echo("Apply the environment changes with: trtdoctor fix --write-env (add --dry-run to preview)")


@app.command()
def smoke(
    precision: str = typer.Option("fp16", "--precision", help="fp32, fp16, int8 or best."),
    model: str = typer.Option("reference", "--model", help="reference or PATH.onnx."),
    backend: str = typer.Option("auto", "--backend", help="auto, tensorrt, tf-trt or tensorrt-rtx."),
    batch: int = typer.Option(8, "--batch", min=1),
    iterations: int = typer.Option(200, "--iterations", min=1),
    warmup: int = typer.Option(20, "--warmup", min=0),
    device: int = typer.Option(0, "--device", min=0),
    engine_cache: Optional[str] = typer.Option(None, "--engine-cache", help="Where engines, sidecars and the timing cache go."),
    cuda_graph: bool = typer.Option(False, "--cuda-graph", help="Capture the inference in a CUDA graph."),
    no_transfers: bool = typer.Option(False, "--no-transfers", help="Keep data on the device while timing."),
    force: bool = typer.Option(False, "--force", help="Go on despite preflight findings or a refused precision."),
    format: str = typer.Option("text", "--format", "-f", help="text or json."),
    from_: Optional[str] = typer.Option(None, "--from", help="Preflight from a saved report instead of a fresh check."),
    timeout: float = typer.Option(10.0, "--timeout"),
) -> None:
    """Build, validate and benchmark a reference model: proof that the stack works."""
    from . import engine as run
    from . import report
    from .smoke.runner import smoke as do_smoke
    from .smoke.runner import smoke_text

    try:
        if precision not in ("fp32", "fp16", "int8", "best"):
            raise UsageError(f"unknown --precision {precision!r}: use fp32, fp16, int8 or best")
        if backend not in ("auto", "tensorrt", "tf-trt", "tensorrt-rtx"):
            raise UsageError(f"unknown --backend {backend!r}")
        if from_:
            rep, findings = run.recheck(report.load(from_))
        else:
            rep, findings = run.check(make_target(None, None, [], timeout))
    except UsageError as exc:
        fail(str(exc))
    opts = dict(
        precision=precision, model=model, backend=backend, batch=batch, iterations=iterations, warmup=warmup, device=device, engine_cache=engine_cache, cuda_graph=cuda_graph, no_transfers=no_transfers, force=force
    )
    result = do_smoke(rep, findings, opts)
    typer.echo(json.dumps(result, indent=2, default=str) if format == "json" else smoke_text(result))
    raise typer.Exit(0 if result["result"] == "PASS" else 1)


def _explain(target: Target, soname: str) -> None:
    from . import render
    from .loader import LoaderModel
    from .probes import collect
    from .probes.libraries import Places, _copies

    snap = collect(target, {"libraries"})
    machine = (snap.get("os") or {}).get("arch") or "x86-64"
    model = LoaderModel(target, machine)
    res = model.resolve(soname)
    places = Places(target, snap, model)
    typer.echo(render.explain(soname, res, _copies(target, soname, places, model)))
    if target.live and res.found:
        from .probes.libraries import live_dlopen

        lv = live_dlopen(target, [soname]).get(soname) or {}
        typer.echo(f"Real loader: {lv.get('loaded') or lv.get('error')}" + (" (agrees)" if lv.get("loaded") and Path(lv["loaded"]).resolve() == target.path(res.path).resolve() else ""))


class Interrupted(BaseException):
    """Ctrl-C. Not a KeyboardInterrupt, which click turns into "Aborted!" and exit 1."""


def _interrupted(signum, frame) -> None:
    raise Interrupted


def run() -> None:
    """Entry point: expected failures are one line; anything else is exit 2, not a traceback."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when started with Ctrl-C ignored
        signal.signal(signal.SIGINT, _interrupted)
    try:
        app()
    except SystemExit:
        raise
    except (KeyboardInterrupt, Interrupted):
        from .subproc import kill_all

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        kill_all()  # the children run in sessions of their own: Ctrl-C never reached them
        typer.echo("trtdoctor: interrupted", err=True)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)  # do not wait for probe threads: what they wait on is dead, what they would do next is not wanted
    except Exception as exc:  # noqa: BLE001
        typer.echo(f"trtdoctor: internal error: {type(exc).__name__}: {exc} (please report with `trtdoctor check --json`)", err=True)
        sys.exit(2)
