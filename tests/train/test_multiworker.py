"""Multi-worker training with real worker processes on localhost (TF_CONFIG, free ports).

Every process is started in its own session and killed (SIGKILL: TensorFlow's preemption
notifier swallows SIGTERM) when a test ends or fails, so none outlives its test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from edgeship.errors import ConfigError, TrainingError
from edgeship.netutil import free_ports

CLI = "from edgeship.cli.main import main; raise SystemExit(main())"
# A few steps on digits: 300 samples, 16 per replica, 32 per global batch.
ARGS = ["--recipe", "lenet5", "--dataset", "digits", "--max-samples", "300"]
ARGS += ["--batch-size", "16", "--patience", "0", "--calibration-samples", "20", "--quiet"]
RUN_TIMEOUT = 150.0  # hard limit of one cluster run (CI: 2 cores, both workers on them)


def tf_config(ports: Sequence[int], index: int) -> str:
    workers = [f"localhost:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


class Worker:
    """One ``edgeship train`` process of a cluster, its output in files."""

    def __init__(self, tmp: Path, name: str, args: Sequence[str], env: dict[str, str]) -> None:
        self.log = tmp / f"{name}.log"
        self.tmpdir = tmp / f"{name}-tmp"
        self.tmpdir.mkdir(exist_ok=True)
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CLI, "train", *args],
                stdout=fh,
                stderr=subprocess.STDOUT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(self.tmpdir), **env},
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def cluster(tmp: Path, outs: Sequence[Path], extra: Sequence[str] = ()) -> Iterator[list[Worker]]:
    """Start one worker per output folder (worker 0, the chief, first); kill all at the end."""
    ports = free_ports(len(outs))
    workers: list[Worker] = []
    try:
        for index, out in enumerate(outs):
            args = [*ARGS, "--strategy", "multi-worker", *extra, "--out", str(out)]
            env = {"TF_CONFIG": tf_config(ports, index)}
            workers.append(Worker(tmp, f"w{index}-{time.monotonic_ns()}", args, env))
        yield workers
    finally:
        for worker in workers:
            worker.kill()


def wait_all(workers: Sequence[Worker], timeout: float = RUN_TIMEOUT) -> list[int]:
    """Exit codes of all workers; kills them all as soon as one fails or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = [w.proc.poll() for w in workers]
        if all(code is not None for code in codes):
            return [int(code) for code in codes if code is not None]
        if any(code not in (None, 0) for code in codes):
            break
        time.sleep(0.1)
    for worker in workers:
        worker.kill()
    logs = "\n".join(f"--- {w.log.name}\n{w.text()[-3000:]}" for w in workers)
    pytest.fail(f"workers did not all finish within {timeout:g} s:\n{logs}")


CHIEF_FILES = {"model.keras", "edgeship.json", "history.csv", "calibration.npz", "eval.npz"}


def test_two_workers_train_and_only_the_chief_writes(tmp_path: Path) -> None:
    chief_out, other_out = tmp_path / "chief", tmp_path / "other"
    with cluster(tmp_path, [chief_out, other_out], ["--epochs", "2"]) as workers:
        codes = wait_all(workers)
    logs = [w.text() for w in workers]
    assert codes == [0, 0], logs
    assert {p.name for p in chief_out.iterdir()} >= CHIEF_FILES
    assert not (chief_out / "backup").exists()  # a finished run drops its backup
    assert not other_out.exists()  # the other worker never touched its --out
    assert list(workers[1].tmpdir.iterdir()) == []  # and removed its private folder
    assert "trained as a worker" in logs[1]

    card = json.loads((chief_out / "edgeship.json").read_text())
    training = card["training"]
    assert training["strategy"] == "multi-worker" and training["replicas"] == 2
    assert training["global_batch_size"] == 32 and training["epochs_run"] == 2
    assert training["resumed_from_epoch"] == 0
    history = (chief_out / "history.csv").read_text().splitlines()
    assert len(history) == 3 and history[0].startswith("epoch,")
    assert np.isfinite(card["metrics"]["test_loss"])
    # The saved model is the one the card measured (evaluated under the strategy).
    import keras

    model = keras.saving.load_model(chief_out / "model.keras", compile=False)
    with np.load(chief_out / "eval.npz") as samples:
        x, y = samples["x"], samples["y"]
    accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == y))
    assert accuracy == pytest.approx(card["metrics"]["test_accuracy"], abs=1e-6)


def test_an_interrupted_run_resumes_from_its_backup(tmp_path: Path) -> None:
    out = tmp_path / "out"
    backups = out / "backup"
    epochs = ["--epochs", "6"]
    with cluster(tmp_path, [out, out], epochs) as workers:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not list(backups.glob("epoch-*/state.json")):
            if time.monotonic() > deadline or any(w.proc.poll() is not None for w in workers):
                pytest.fail("no backup was written:\n" + "\n".join(w.text() for w in workers))
            time.sleep(0.02)
        for worker in workers:  # the crash: both workers die after the first backup
            worker.kill()
    done = max(json.loads(p.read_text())["epoch"] for p in backups.glob("epoch-*/state.json"))
    assert 1 <= done < 6 and not (out / "model.keras").exists()

    with cluster(tmp_path, [out, out], epochs) as workers:
        codes = wait_all(workers)
    assert codes == [0, 0], [w.text() for w in workers]
    training = json.loads((out / "edgeship.json").read_text())["training"]
    assert training["resumed_from_epoch"] >= done
    assert training["epochs_run"] == 6 - training["resumed_from_epoch"]
    rows = (out / "history.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(6))  # old rows kept
    assert not (out / "backup").exists()


def test_a_worker_whose_leader_never_answers_fails_in_bounded_time(tmp_path: Path) -> None:
    leader, me = free_ports(2)
    worker = Worker(
        tmp_path,
        "w1",
        [*ARGS, "--strategy", "multi-worker", "--peer-timeout", "3", "--out", str(tmp_path / "o")],
        {"TF_CONFIG": tf_config([leader, me], 1)},
    )
    try:
        worker.proc.wait(timeout=RUN_TIMEOUT)
    finally:
        worker.kill()
    text = worker.text()
    assert worker.proc.returncode == 1, text
    assert f"worker 1 (localhost:{me}) could not reach worker 0 (localhost:{leader})" in text
    assert "within 3 s" in text and "--peer-timeout" in text and "Traceback" not in text
    assert not (tmp_path / "o").exists()


def test_the_leader_names_the_peer_it_cannot_reach() -> None:
    from edgeship.train.cluster import read_cluster, wait_for_peers

    me, peer = free_ports(2)
    found = read_cluster({"TF_CONFIG": tf_config([me, peer], 0)})
    assert found is not None and found.is_leader and found.is_chief
    start = time.monotonic()
    with pytest.raises(TrainingError) as info:
        wait_for_peers(found, timeout=0.5, poll=0.05)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert f"worker 0 (localhost:{me}) could not reach worker 1 (localhost:{peer})" in message
    assert "Start the missing worker" in message and "--peer-timeout" in message


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("{not json", "not JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "no 'cluster' object"),
        ('{"cluster": {"worker": []}}', "cluster.worker must be a non-empty list"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {}}', "'localhost' is not 'host:port'"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}, "task": {}}', "a:1 appears twice"),
        ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {}}', "['ps'] are not"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"index": 0}}', "needs both 'type'"),
        ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "0..1"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "'chief' is"),
    ],
)
def test_malformed_tf_config_is_refused_before_any_work(
    tmp_path: Path, quick_config, monkeypatch: pytest.MonkeyPatch, raw: str, why: str
) -> None:
    from edgeship.train import train

    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ConfigError) as info:
        train(quick_config(tmp_path / "o", strategy="multi-worker"))
    message = str(info.value)
    assert message.startswith("TF_CONFIG is malformed: ") and why in message
    assert '"task": {"type": "worker", "index": 0}' in message  # the expected shape
    assert repr(raw) in message
    assert not (tmp_path / "o").exists()


def test_cli_reports_a_malformed_tf_config(tmp_path: Path, monkeypatch, capsys) -> None:
    from edgeship.cli.main import main

    spec = {"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
    code = main(["train", "--strategy", "multi-worker", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "edgeship train: error: TF_CONFIG is malformed" in err
    assert "task.index must be an integer in 0..0" in err


def test_chief_and_leader_with_a_chief_job() -> None:
    from edgeship.train.cluster import read_cluster

    spec = {"cluster": {"chief": ["c:1"], "worker": ["a:1", "b:1"]}}
    chief = read_cluster({"TF_CONFIG": json.dumps({**spec, "task": {"type": "chief", "index": 0}})})
    worker = read_cluster(
        {"TF_CONFIG": json.dumps({**spec, "task": {"type": "worker", "index": 0}})}
    )
    assert chief is not None and chief.is_chief and chief.leader == ("chief", 0)
    assert worker is not None and not worker.is_chief and worker.size == 3
    assert read_cluster({}) is None


def test_peer_timeout_and_gan_settings_are_checked() -> None:
    from edgeship.train import TrainConfig

    with pytest.raises(ConfigError, match="peer_timeout must be a number of seconds"):
        TrainConfig(peer_timeout=0)
    with pytest.raises(ConfigError, match="recipe 'gan' trains on one worker"):
        TrainConfig(recipe="gan", strategy="multi-worker")


@pytest.mark.parametrize("value", [None, "", "  "])
def test_multi_worker_without_tf_config_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, value: str | None
) -> None:
    """Without TF_CONFIG a multi-worker run would train one worker and call it a cluster."""
    from edgeship.cli.main import main
    from edgeship.train.cluster import EXAMPLE

    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    code = main(["train", "--strategy", "multi-worker", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        "edgeship train: error: --strategy multi-worker needs TF_CONFIG, and it is "
        f"{'unset' if value is None else 'empty'}. Set it on every worker to JSON like "
        f"{EXAMPLE} (the same cluster on every worker, each with its own task index), or "
        "train on one machine with --strategy default (or mirrored for its GPUs).\n"
    )
    assert not (tmp_path / "o").exists()
