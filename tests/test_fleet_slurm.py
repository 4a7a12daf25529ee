"""trtdoctor fleet slurm through a real Slurm: munged, slurmctld and three slurmd (nodes
fleet1..fleet4 on this host, ``slurmd -N``) started here from a private configuration on
free ports, so nothing of the machine's own Slurm setup is used or changed.

Each node runs the check through an interpreter wrapper (what a site's ``module load`` script
is): it judges a test root of its own, so the summary has a node that differs; fleet4's
wrapper hangs, so the per-node timeout and "no report" are real too.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import CC, REPO, Tree, h100_tree, run_cli

DAEMONS = ("munged", "slurmctld", "slurmd", "srun", "sinfo", "scontrol")
NODES = ("fleet1", "fleet2", "fleet3", "fleet4")


def _why_no_slurm() -> str | None:
    missing = [d for d in DAEMONS if not shutil.which(d) and not os.path.exists(f"/usr/sbin/{d}")]
    if missing:
        return f"Slurm is not installed ({', '.join(missing)} missing; .ci/run installs slurmd, slurmctld, slurm-client and munge with apt)"
    if os.geteuid() != 0:
        return "starting slurmd needs root"
    if CC is None:
        return "no C compiler for the test roots"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _conf(d: Path) -> str:
    ports = {n: _free_port() for n in NODES}
    nodes = "".join(f"NodeName={n} NodeHostname=localhost NodeAddr=127.0.0.1 Port={p} CPUs=1 State=UNKNOWN\n" for n, p in ports.items())
    return f"""ClusterName=trtdoctor-fleet-test
SlurmctldHost={socket.gethostname()}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd-%n.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/linear
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
{nodes}PartitionName=fleettest Nodes={",".join(NODES)} Default=YES MaxTime=INFINITE State=UP
"""


def _start(argv: list[str], d: Path) -> None:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        logs = "".join(p.read_text(errors="replace")[-400:] for p in d.glob("*.log"))
        pytest.skip(f"could not start {argv[0]}: {(res.stderr or res.stdout).strip()[-300:]} {logs}")


def _stop(d: Path) -> None:
    """End the daemons this test started, by the pid files they wrote."""
    for pidfile in [*d.glob("slurmd-*.pid"), d / "slurmctld.pid", d / "munged.pid"]:
        try:
            pid = int(pidfile.read_text().split()[0])
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue
        for _ in range(50):
            try:  # trtdoctor's subreaper may have made this daemon our child: reap it, or it stays a zombie
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
            try:
                os.kill(pid, 0)
                time.sleep(0.1)
            except OSError:
                break


@pytest.fixture(scope="module")
def cluster():
    why = _why_no_slurm()
    if why:
        pytest.skip(why)
    d = Path(tempfile.mkdtemp(prefix="tdf-", dir="/tmp"))  # short: a unix socket path has 108 bytes
    try:
        for sub in ("state", *(f"spool/{n}" for n in NODES)):
            (d / sub).mkdir(parents=True)
        key = d / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        (d / "slurm.conf").write_text(_conf(d))
        conf = str(d / "slurm.conf")
        _start(["munged", "--force", f"--socket={d}/munge.sock", f"--key-file={key}", f"--log-file={d}/munged.log", f"--pid-file={d}/munged.pid", f"--seed-file={d}/munged.seed"], d)
        _start(["slurmctld", "-f", conf, "-i"], d)
        for n in NODES:
            _start(["slurmd", "-f", conf, "-N", n], d)
        env = dict(os.environ, SLURM_CONF=conf)
        for _ in range(100):
            states = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, env=env).stdout.split("\n")
            if sum("idle" in s for s in states) == len(NODES):
                break
            time.sleep(0.2)
        else:
            pytest.skip(f"the test nodes did not come up: {states}")
        yield d, env
    finally:
        _stop(d)
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def wrapper(cluster, tmp_path_factory):
    """fleet1..fleet3 judge test roots, fleet3's with an older driver; fleet4 hangs."""
    base = tmp_path_factory.mktemp("slurm-roots")
    for n in ("fleet1", "fleet2", "fleet3"):
        t = h100_tree(Tree(base / n))
        if n == "fleet3":
            t.driver(version="570.86.15")
    script = base / "python"
    script.write_text(f'#!/bin/sh\n[ "$SLURMD_NODENAME" = fleet4 ] && exec sleep 300\nexec {sys.executable} "$@" --root {base}/"$SLURMD_NODENAME"\n')
    script.chmod(0o755)
    return script


def fleet(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    res = run_cli("fleet", "slurm", "--format", "json", "--install", str(REPO), *args, env=env, timeout=120)
    assert res.returncode in (0, 1), res.stderr
    return res, json.loads(res.stdout)


def test_fleet_slurm_end_to_end(cluster, wrapper, tmp_path):
    d, env = cluster
    out = tmp_path / "reports"
    started = time.monotonic()
    res, doc = fleet(env, "--nodelist", "fleet[1-4]", "--partition", "fleettest", "--time", "5", "--python", str(wrapper), "--out", str(out), "--timeout", "8", "--", "--comment=trtdoctor-test")
    took = time.monotonic() - started
    assert res.returncode == 1  # fleet3 has errors, fleet4 no report
    assert doc["run"]["command"][0] == "srun" and "--comment=trtdoctor-test" in doc["run"]["command"] and "--nodelist=fleet[1-4]" in doc["run"]["command"]
    assert doc["summary"] == {"nodes": 4, "answered": 3, "no_report": 1, "failing": 2, "differing": 1}, doc["summary"]
    by = {n["name"]: n for n in doc["nodes"]}
    assert by["fleet4"]["status"] == "no report" and "ran past 8 s" in by["fleet4"]["reason"]
    assert took < 60, took  # the hung node cost its timeout, not the queue wait
    (diff,) = doc["differences"]
    assert diff["nodes"] == ["fleet3"] and diff["facts"]["driver"] == {"value": "570.86.15", "majority": "580.159.04"}
    assert sorted(p.name for p in out.iterdir()) == sorted(f"fleet{i}.{ext}" for i in range(1, 5) for ext in ("json", "err"))
    # the same files summarise the same way afterwards
    again = json.loads(run_cli("fleet", "summary", str(out), "--format", "json").stdout)
    assert again["summary"] == doc["summary"] and again["differences"] == doc["differences"]


def test_fleet_slurm_two_alike_nodes_pass(cluster, tmp_path):
    """The live check on each node (no wrapper), named by Slurm's node name."""
    _, env = cluster
    res, doc = fleet(env, "--nodes", "2", "--nodelist", "fleet[1-2]", "--out", str(tmp_path / "r"), "--timeout", "60")
    assert doc["summary"]["answered"] == 2 and doc["differences"] == []
    assert sorted(n["name"] for n in doc["nodes"]) == ["fleet1", "fleet2"]
    assert {n["host"] for n in doc["nodes"]} == {"fleet1", "fleet2"}
    text = run_cli("fleet", "summary", str(tmp_path / "r")).stdout
    assert "Fleet: 2 nodes, 2 answered; 0 differ from the majority" in text
    res = run_cli("fleet", "slurm", "--nodelist", "fleet[1-2]", "--out", str(tmp_path / "t"), "--install", str(REPO), env=env)
    assert f"Reports in {tmp_path / 't'}" in res.stdout and "Fleet: 2 nodes, 2 answered" in res.stdout


def test_fleet_slurm_refuses_a_directory_with_files(cluster, tmp_path):
    _, env = cluster
    (tmp_path / "keep.txt").write_text("mine")
    res = run_cli("fleet", "slurm", "--nodes", "1", "--out", str(tmp_path), env=env)
    assert res.returncode == 2 and "is not empty" in res.stderr and (tmp_path / "keep.txt").read_text() == "mine"


def test_fleet_slurm_without_nodes_is_usage(tmp_path):
    res = run_cli("fleet", "slurm", "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and "needs --nodes N or --nodelist" in res.stderr
    assert not (tmp_path / "x").exists()


def test_fleet_slurm_without_srun_is_one_line(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))
    res = run_cli("fleet", "slurm", "--nodes", "1", "--out", str(tmp_path / "x"), env=env)
    assert res.returncode == 2 and "could not start srun" in res.stderr and len(res.stderr.strip().splitlines()) == 1
