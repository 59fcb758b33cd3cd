"""Every run is safe to interrupt: Ctrl-C is one line and exit 130, locks and staging folders
left by killed processes are taken over or removed, and a run killed at a random point (kill -9)
then run again gives the same files as a run never interrupted (slow tests)."""

from __future__ import annotations

import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from jumprelu._util import LOCK_NAME, run_lock
from jumprelu.cli.main import INTERRUPTED, TRAIN_INTERRUPTED, main
from jumprelu.errors import ConfigError
from jumprelu.models.checkpoints import load_checkpoint
from jumprelu.report.write import STAGING_PREFIX, write_all
from jumprelu.training import loop

TRAIN = ["-q", "train", "--arch", "digitsnet", "--dataset", "digits", "--limit", "128"]
TRAIN += ["--epochs", "3", "--val-size", "0", "--no-test"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_is_one_line_and_exit_130(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(args: Any) -> int:
        raise KeyboardInterrupt

    cli_main = importlib.import_module("jumprelu.cli.main")  # the package exports main()
    monkeypatch.setattr(cli_main, "_cmd_report", interrupted)
    assert main(["report", str(tmp_path)]) == 130
    captured = capsys.readouterr()
    assert captured.err == f"{INTERRUPTED}\n" and captured.out == ""


def test_ctrl_c_during_training_then_resume_gives_the_same_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, out = tmp_path / "ref.pt", tmp_path / "net.pt"
    assert main([*TRAIN, "--out", str(ref)]) == 0
    epoch, calls = loop._epoch, []

    def stop_in_second(*args: Any, **kwargs: Any) -> tuple[float, int]:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return epoch(*args, **kwargs)

    monkeypatch.setattr(loop, "_epoch", stop_in_second)
    assert main([*TRAIN, "--out", str(out)]) == 130
    assert capsys.readouterr().err == f"{TRAIN_INTERRUPTED}\n"
    assert not out.exists() and not (tmp_path / "net.pt.epochs" / LOCK_NAME).exists()
    monkeypatch.setattr(loop, "_epoch", epoch)
    assert main([*TRAIN, "--out", str(out), "--resume"]) == 0
    a, b = load_checkpoint(ref)[0].state_dict(), load_checkpoint(out)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------------------------- locks


def test_run_lock_records_the_holder_and_cleans_up(tmp_path: Path) -> None:
    run = tmp_path / "new" / "run"
    with run_lock(run) as held:
        assert held == run
        pid, host = (run / LOCK_NAME).read_text().split()
        assert int(pid) == os.getpid() and host == socket.gethostname()
        with run_lock(run):  # nested in one process: allowed, the lock stays
            pass
        assert (run / LOCK_NAME).exists()
    assert not (tmp_path / "new").exists()  # created by the lock, empty: removed
    run.mkdir(parents=True)
    (run / "results.json").write_text("{}")
    with run_lock(run):
        pass
    assert _files(run) == ["results.json"]


def test_run_lock_refuses_a_live_holder(tmp_path: Path) -> None:
    for holder in (f"{os.getppid()} {socket.gethostname()}", "1 some-other-host"):
        (tmp_path / LOCK_NAME).write_text(holder + "\n")
        pid, host = holder.split()
        with pytest.raises(ConfigError, match=f"in use by pid {pid} on {host}"), run_lock(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).read_text() == holder + "\n"  # untouched


def test_run_lock_takes_over_a_stale_lock(tmp_path: Path) -> None:
    (tmp_path / LOCK_NAME).write_text(f"{_dead_pid()} {socket.gethostname()}\n")
    with run_lock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()
    (tmp_path / LOCK_NAME).write_text("")  # a writer killed between create and write
    with pytest.raises(ConfigError, match="in use by another process"), run_lock(tmp_path):
        pass
    old = time.time() - 60
    os.utime(tmp_path / LOCK_NAME, (old, old))
    with run_lock(tmp_path):
        pass
    assert _files(tmp_path) == []


def test_report_writer_removes_stale_staging(tmp_path: Path) -> None:
    stale = tmp_path / f"{STAGING_PREFIX}killed" / ".previous"
    stale.mkdir(parents=True)
    (stale / "report.md").write_text("old")
    write_all(tmp_path, {"report.md": b"new"}, {"report_files": {"a.png": b"png"}})
    assert _files(tmp_path) == ["report.md", "report_files", "report_files/a.png"]
    assert (tmp_path / "report.md").read_bytes() == b"new"


# -------------------------------------------------------------------- kill -9, then again (slow)


def _cli(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-m", "jumprelu", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _run(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = _cli(args, cwd)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()
    return time.perf_counter() - start


def _kill_at_random(args: list[str], cwd: Path, longest: float, rng: random.Random) -> float:
    """Start the command, kill -9 it after a random delay (unless it finished); the delay."""
    delay = rng.uniform(0.2, longest)
    proc = _cli(args, cwd)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return delay


def _leftovers(root: Path) -> list[str]:
    return [f for f in _files(root) if LOCK_NAME in f or STAGING_PREFIX in f or ".tmp" in f]


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
def test_train_killed_at_random_then_resumed_is_identical(tmp_path: Path, attempt: int) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    ref, run = tmp_path / "ref", tmp_path / "run"
    ref.mkdir()
    run.mkdir()
    took = _run([*TRAIN, "--out", "net.pt"], ref)
    delay = _kill_at_random([*TRAIN, "--out", "net.pt"], run, took, rng)
    again = [*TRAIN, "--out", "net.pt"]
    if (run / "net.pt.epochs" / "resume.pt").exists():
        again.append("--resume")
    _run(again, run)
    why = f"seed {seed}, killed after {delay:.2f} s of {took:.2f} s"
    assert _files(run) == _files(ref), why
    assert not _leftovers(run), why
    for name in ["net.pt", *(f"net.pt.epochs/epoch00{i}.pt" for i in (1, 2, 3))]:
        (a, ma), (b, mb) = load_checkpoint(ref / name), load_checkpoint(run / name)
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), (name, why)
        for meta in (ma, mb):
            meta.training.pop("command")
        assert ma == mb, (name, why)


@pytest.mark.slow
def test_report_killed_at_random_then_rerun_is_identical(tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    ref, run = tmp_path / "ref", tmp_path / "run"
    ev = ["-q", "evaluate", "--dataset", "digits", "--n", "16", "--attacks", "fgsm,deepfool-l2"]
    ev += ["--threats", "white,gray", "--adaptive-extra=", "--jumps", "0,1", "--no-report"]
    _run([*ev, "--out", str(ref)], tmp_path)
    shutil.copytree(ref, run)
    took = _run(["report", str(ref)], tmp_path)
    for attempt in range(3):
        delay = _kill_at_random(["report", str(run)], tmp_path, took, rng)
        why = f"seed {seed}, attempt {attempt}: killed after {delay:.2f} s of {took:.2f} s"
        _run(["report", str(run)], tmp_path)
        assert _files(run) == _files(ref), why
        assert not _leftovers(run), why
        for name in _files(ref):
            if (ref / name).is_file():
                assert (ref / name).read_bytes() == (run / name).read_bytes(), (name, why)
