"""Hostile input, clean output: names from a judged tree (file names, GPU names, sidecars,
saved reports) never forge lines, reach the terminal as escape sequences or add Markdown;
JSON is always strict UTF-8; bad --from files, sidecars and --timeout values are one line
on stderr and exit 2 (or, for a sidecar, one finding), never a traceback or a hang."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from conftest import CC, H100_ENV, REPO, Tree, check_json, h100_tree, json_paths, needs_cc, saved_report
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from trtdoctor import cli

SITE = "/opt/torch/.venv/lib/python3.12/site-packages"
NAMES = ["evil\n✓ fake", "osc\x1b]0;pwn\x07", "# heading"]
GPU = "NVIDIA H100 \x1b]0;pwn\x07\u202eevil"
# Raw in output, any of these is an injection: C0 but newline, DEL, C1, bidi, line/paragraph separators, lone surrogates.
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as a user runs it, output as bytes, stdout encoded strictly (as under en_US.UTF-8)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONIOENCODING="utf-8:strict")
    return subprocess.run([sys.executable, "-m", "trtdoctor", *args], capture_output=True, env=env, timeout=timeout)


def one_line_exit_2(res: subprocess.CompletedProcess, words: str = "") -> str:
    err = res.stderr.decode("utf-8", "replace").strip()
    assert res.returncode == 2, (res.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "internal error" not in err, err
    assert not RAW.search(err), err
    assert words in err, err
    return err


def strict_json(data: bytes):
    """JSON as a strict parser takes it: UTF-8 decoded strictly, no NaN, every string valid Unicode."""
    doc = json.loads(data.decode("utf-8", "strict"), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    json.dumps(doc, ensure_ascii=False).encode("utf-8")  # a lone surrogate anywhere raises here
    if shutil.which("jq"):
        assert subprocess.run(["jq", "-e", "."], input=data, capture_output=True).returncode == 0
    return doc


@pytest.mark.parametrize(
    "raw, seen",
    [
        ("a\nb\tc\r", "a\\nb\\tc\\r"),
        ("\x1b]0;pwn\x07", "\\x1b]0;pwn\\x07"),
        ("\x7f\x85\x9b", "\\x7f\\u0085\\u009b"),  # C1 spelled as code points, so \xNN above 7f always means a byte
        ("\u202eevil\u2066\u2028\u2029\ufeff\u200b", "\\u202eevil\\u2066\\u2028\\u2029\\ufeff\\u200b"),
        (b"bad\xff\xfe".decode("utf-8", "surrogateescape"), "bad\\xff\\xfe"),  # the undecodable bytes, named
        ("\ud800", "\\ud800"),
        ("✓ é 日本 \\x41 | # `", "✓ é 日本 \\x41 | # `"),  # ordinary text untouched
    ],
)
def test_visible_spells_out_what_a_terminal_would_act_on(raw, seen):
    from trtdoctor.escape import visible

    assert visible(raw) == seen


def test_json_text_is_strict_and_says_when_bytes_were_named():
    from trtdoctor.escape import json_text

    name = b"/opt/bad\xff".decode("utf-8", "surrogateescape")
    doc = strict_json(json_text({"a": [name, float("nan"), "\x1b"], name: 1}).encode())
    assert doc["a"] == ["/opt/bad\\xff", None, "\x1b"] and doc["/opt/bad\\xff"] == 1
    assert doc["undecodable"]["strings"] == 2
    assert "undecodable" not in strict_json(json_text({"a": "ok"}).encode())


@pytest.fixture
def hostile(tree: Tree) -> Tree:
    """A healthy stack whose GPU name holds an OSC sequence and a bidi override, with cuDNN
    copies in pip dirs named with a newline and a fake ✓ line, an OSC sequence, a Markdown
    heading, and bytes that are not UTF-8."""
    tree.base().driver(gpu=GPU).cuda()
    tree.lib("/usr/lib/x86_64-linux-gnu/libcudnn.so.9.14.0", "libcudnn.so.9", links=("libcudnn.so.9",))
    for name in NAMES:
        tree.lib(f"{SITE}/nvidia/{name}/lib/libcudnn.so.9", "libcudnn.so.9")
    bad = os.fsencode(str(tree.p(f"{SITE}/nvidia"))) + b"/bad\xff\xfe/lib"
    os.makedirs(bad)
    shutil.copy(tree.p(f"{SITE}/nvidia/# heading/lib/libcudnn.so.9"), bad + b"/libcudnn.so.9")
    tree.ldconfig()
    return tree


def hostile_args(t: Tree) -> list[str]:
    return ["--root", str(t.root), "--env", "VIRTUAL_ENV=/opt/torch/.venv"]


def strings(doc) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {s for v in doc.values() for s in strings(v)}
    if isinstance(doc, list):
        return {s for v in doc for s in strings(v)}
    return {doc} if isinstance(doc, str) else set()


def assert_clean(out: bytes) -> str:
    assert b"\x1b" not in out and b"\x07" not in out and b"\xff" not in out
    text = out.decode("utf-8", "strict")
    assert not RAW.search(text), RAW.search(text)
    assert not any(line.lstrip().startswith("✓ fake") for line in text.splitlines())
    return text


@needs_cc
@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_hostile_names_are_shown_escaped_in_text(hostile, verbose):
    res = run("check", *hostile_args(hostile), *verbose)
    assert res.returncode == 0, res.stderr.decode()
    text = assert_clean(res.stdout)
    assert "NVIDIA H100 \\x1b]0;pwn\\x07\\u202eevil" in text
    if verbose:
        assert "nvidia/evil\\n✓ fake/lib/libcudnn.so.9" in text and "nvidia/osc\\x1b]0;pwn\\x07/lib" in text
        assert "nvidia/bad\\xff\\xfe/lib" in text and "note: bytes that are not UTF-8" in text


@needs_cc
def test_hostile_names_add_no_markdown(hostile):
    res = run("check", "--format", "markdown", *hostile_args(hostile))
    assert res.returncode == 0, res.stderr.decode()
    md = assert_clean(res.stdout)
    head, _, snapshot_block = md.partition("<details>")
    headings = [line for line in head.splitlines() if line.startswith("#")]
    assert all(h.startswith(("## trtdoctor ", "### Findings")) for h in headings), headings
    assert "NVIDIA H100 \\\\x1b\\]0;pwn\\\\x07\\\\u202eevil" in head  # \x1b shown, ] and \ escaped for Markdown
    assert "\\u001b]0;pwn" in snapshot_block and "bad\\\\xff\\\\xfe" in snapshot_block  # JSON escapes, surrogates named


@needs_cc
def test_json_is_strict_utf8_and_names_undecodable_bytes(hostile, tmp_path):
    res = run("check", "--json", *hostile_args(hostile))
    assert res.returncode == 0, res.stderr.decode()
    rep = strict_json(res.stdout)
    assert rep["undecodable"]["strings"] >= 1 and "\\xNN" in rep["undecodable"]["note"]
    assert f"{SITE}/nvidia/bad\\xff\\xfe/lib/libcudnn.so.9" in strings(rep)
    assert any(d["name"] == GPU for d in rep["snapshot"]["gpus"]["devices"])  # JSON keeps the real name, escaped by JSON itself
    saved = tmp_path / "report.json"
    saved.write_bytes(res.stdout)
    again = run("check", "--json", "--from", str(saved))
    assert again.returncode == 0 and strict_json(again.stdout)["undecodable"] == rep["undecodable"]
    assert "note: bytes that are not UTF-8" in assert_clean(run("check", "--from", str(saved)).stdout)


@needs_cc
def test_explain_shows_hostile_search_dirs_escaped(tree):
    tree.base()
    res = run("check", "--root", str(tree.root), "--env", "LD_LIBRARY_PATH=/opt/osc\x1b]0;pwn\x07:/opt/\u202eevil", "--explain", "libnvinfer.so.10")
    assert res.returncode == 0, res.stderr.decode()
    text = assert_clean(res.stdout)
    assert "/opt/osc\\x1b]0;pwn\\x07" in text and "/opt/\\u202eevil" in text


def test_fix_plan_text_and_json_are_clean(tmp_path):
    saved = saved_report(
        tmp_path / "r.json",
        [
            {
                "id": "libraries.missing",
                "severity": "error",
                "area": "libraries",
                "title": "evil\n✓ fake \x1b]0;pwn\x07",
                "fix": {"summary": "s\n# h", "commands": ["echo \x1b[2J\n✓ ok"], "env": {"LD_LIBRARY_PATH": "/opt/a\udcffb\n✓ x:$LD_LIBRARY_PATH"}, "links": []},
            }
        ],
    )
    text = run("fix", "--from", str(saved))
    assert text.returncode == 0, text.stderr.decode()
    assert "evil\\n✓ fake \\x1b]0;pwn\\x07" in assert_clean(text.stdout)
    plan = run("fix", "--format", "json", "--from", str(saved))
    doc = strict_json(plan.stdout)
    assert doc["env"]["prepend"]["LD_LIBRARY_PATH"] == ["/opt/a\\xffb\n✓ x"] and doc["undecodable"]["strings"] >= 1


# --- engine sidecars ---------------------------------------------------------------------------


def engine_file(tmp_path, sidecar: bytes | None = None):
    p = tmp_path / "e.plan"
    p.write_bytes(b"junk")
    if sidecar is not None:
        (tmp_path / "e.plan.json").write_bytes(sidecar)
    return p


def test_hostile_sidecar_values_are_shown_escaped(tmp_path):
    side = {"backend": "tensorrt", "tensorrt": "10.13.3.9", "gpu": "A10\n✓ fake \x1b[2J", "compute_capability": "8.6\x1b]0;x\x07"}
    p = engine_file(tmp_path, json.dumps(side).encode())
    res = run("check", "--root", str(tmp_path), "--engine", str(p))
    assert res.returncode in (0, 1), res.stderr.decode()
    assert "A10\\n✓ fake \\x1b[2J" in assert_clean(res.stdout)
    md = run("check", "--format", "markdown", "--root", str(tmp_path), "--engine", str(p))
    assert "### Engine" in assert_clean(md.stdout)


@pytest.mark.parametrize("kind", ["fifo", "deep", "huge-int", "directory", "not-utf8", "list"])
def test_odd_sidecars_are_one_finding_not_a_crash_or_a_hang(tmp_path, kind):
    """A sidecar is a file beside the engine, not an argument: one that cannot be used is an
    engine.bad-sidecar warning (the engine itself can still be judged), never a hang or a crash."""
    p = engine_file(tmp_path)
    side = tmp_path / "e.plan.json"
    if kind == "fifo":
        os.mkfifo(side)
    elif kind == "directory":
        side.mkdir()
    else:
        side.write_bytes({"deep": b"[" * 100000 + b"]" * 100000, "huge-int": b'{"tensorrt": ' + b"9" * 5000 + b"}", "not-utf8": b'{"gpu": "\xff"}', "list": b"[1, 2]"}[kind])
    res = run("check", "--json", "--root", str(tmp_path), "--engine", str(p), timeout=30)
    assert res.returncode in (0, 1) and not res.stderr, res.stderr.decode()
    rep = strict_json(res.stdout)
    bad = [f for f in rep["findings"] if f["id"] == "engine.bad-sidecar"]
    assert len(bad) == 1 and rep["engine"]["verdict"] == "unknown", rep["findings"]


# --- --from and --timeout ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, words",
    [
        ("fifo", "is a FIFO, not a regular file"),
        ("directory", ""),
        ("char-device", "not a regular file"),
        ("1 GB sparse", "larger than 64 MiB"),
        ("newline in the name", "cannot read"),
        ("binary", "not JSON"),
        ("deep", "nested deeper than 64 levels"),
        ("NaN", "NaN is not valid JSON"),
    ],
)
@pytest.mark.parametrize("command", ["check", "fix", "smoke"])
def test_from_refuses_what_is_not_a_report_in_one_line(tmp_path, command, kind, words):
    path = tmp_path / "report.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "char-device":
        path = "/dev/zero"
    elif kind == "1 GB sparse":
        with open(path, "wb") as fh:
            fh.truncate(2**30)
    elif kind == "newline in the name":
        path = tmp_path / "evil\n✓ fake \x1b]0;x\x07.json"
    elif kind == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif kind == "deep":
        path.write_bytes(b'{"schema": "trtdoctor.report/1", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}")
    elif kind == "NaN":
        path.write_bytes(b'{"schema": "trtdoctor.report/1", "x": NaN}')
    start = time.monotonic()
    one_line_exit_2(run(command, "--from", str(path), timeout=30), words)
    assert time.monotonic() - start < 20


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e308", "-1", "0", "abc", ""])
@pytest.mark.parametrize("command", ["check", "fix", "smoke"])
def test_timeout_takes_only_finite_positive_seconds(command, value):
    one_line_exit_2(run(command, f"--timeout={value}"), "--timeout")


# --- the fuzz: saved reports damaged at random, run through main() in this process ------------

HOSTILE = ["\n✓ fake", "\x1b]0;pwn\x07", "\x1b[2J", "# heading\n", "\u202eevil", "a\u2028b", "\x85", "\udcff", "\ud800", "[x](http://e)", "<b>", "```", "|", "\\"]
LEAVES = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=8) | st.sampled_from(HOSTILE)
VALUES = st.recursive(LEAVES, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=6) | st.sampled_from(HOSTILE), kids, max_size=3), max_leaves=6)


@st.composite
def damaged(draw, base: dict) -> dict:
    """Up to three edits, mostly hostile text put into a string or a key (what passes the
    schema and reaches the output), else a value dropped or swapped for any JSON value."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["inject"] * 5 + ["key", "swap", "drop"]))
        kind = {"inject": str, "key": dict}.get(how, object)
        where = draw(st.sampled_from([p for p in json_paths(doc) if isinstance(value_at(doc, p), kind)]))
        parent = value_at(doc, where[:-1])
        key, old = where[-1], parent[where[-1]]
        hostile = draw(st.sampled_from(HOSTILE))
        if how == "drop":
            del parent[key]
        elif how == "key":
            old[hostile + draw(st.sampled_from(["", *old]))] = copy.deepcopy(next(iter(old.values()), "x"))
        elif how == "inject":
            parent[key] = draw(st.sampled_from([old + hostile, hostile + old, old[:3] + hostile + old[3:]]))
        else:
            parent[key] = draw(VALUES)
        note(f"{how} {'.'.join(map(str, where))}: {json.dumps(old)[:60]} -> {json.dumps(parent.get(key) if isinstance(parent, dict) else None)[:60]}")
    return doc


def value_at(doc, where: tuple):
    for k in where:
        doc = doc[k]
    return doc


@pytest.fixture(scope="module")
def base_report(tmp_path_factory) -> dict:
    if CC is None:
        pytest.skip("no C compiler")
    t = h100_tree(Tree(tmp_path_factory.mktemp("fuzz") / "root"))
    args = [a for kv in H100_ENV for a in ("--env", kv)]
    return check_json(t.root, *args, "--env", "LD_PRELOAD=/missing/libcudart.so.12")


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzzed") / "report.json"


OUTCOMES: dict = {}


@needs_cc
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_fuzz_from_through_main(base_report, fuzz_file, data):
    """Exit 0, 1 or 2; exit 2 is one line on stderr; no exception, so no "internal error";
    text and Markdown hold nothing raw; JSON is strict UTF-8."""
    doc = data.draw(damaged(base_report))
    fmt = data.draw(st.sampled_from(["text", "json", "markdown"]))
    flags = data.draw(st.sampled_from([[], ["-v"], ["--strict"]]))
    fuzz_file.write_text(json.dumps(doc))  # lone surrogates as JSON escapes, as an old trtdoctor wrote them
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["check", "--from", str(fuzz_file), "--format", fmt, *flags])
    OUTCOMES[rc] = OUTCOMES.get(rc, 0) + 1
    assert rc in (0, 1, 2)
    if rc == 2:
        assert len(err.getvalue().strip().splitlines()) == 1 and not RAW.search(err.getvalue()), err.getvalue()
        return
    assert not err.getvalue(), err.getvalue()
    if fmt == "json":
        strict_json(out.getvalue().encode("utf-8"))
    else:
        assert not RAW.search(out.getvalue()), RAW.search(out.getvalue())
        assert not re.search(r"^\s*✓ fake", out.getvalue(), re.M)


def test_fuzz_reached_the_renderers():
    """The fuzz is only worth something if many damaged reports were rendered."""
    if not OUTCOMES:
        pytest.skip("the fuzz did not run in this session")
    assert OUTCOMES.get(0, 0) + OUTCOMES.get(1, 0) >= sum(OUTCOMES.values()) // 3, OUTCOMES
