"""Training: the loop, bad settings, resume, checkpoints of ``run_training``, the default model."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from jumprelu.cli.main import main
from jumprelu.datasets.core import DATASETS, Split, load_split
from jumprelu.errors import CheckpointError, ConfigError
from jumprelu.evaluation.clean import clean_accuracy_sweep, predict
from jumprelu.models import NormalizedModel, build_model
from jumprelu.models.checkpoints import default_model_path, load_checkpoint
from jumprelu.training.job import TrainJob, run_training
from jumprelu.training.loop import TrainConfig, TrainProgress, paper_recipe, train
from jumprelu.training.state import epoch_checkpoint_path, epoch_dir, state_path


def blobs(n: int = 200, seed: int = 0) -> Split:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = torch.rand(n, 1, 8, 8, generator=g) * 0.3
    x[torch.arange(n), 0, y % 8, y // 8 * 4] += 0.7  # one bright pixel per class
    return Split(x, y, DATASETS["digits"], "train")


def fresh_model() -> NormalizedModel:
    torch.manual_seed(0)
    return build_model("digitsnet", mean=(0.3,), std=(0.3,))


def bn_dropout_model() -> NormalizedModel:
    """Tiny net with BatchNorm (running stats) and dropout (global RNG): both must resume."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(256, 10),
    )
    return NormalizedModel(net, (0.3,), (0.3,))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_reduces_loss_and_is_reproducible() -> None:
    data = blobs()
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=32, seed=1)
    a, b = fresh_model(), fresh_model()
    ra, rb = train(a, data, data, cfg), train(b, data, data, cfg)
    assert ra.train_loss[-1] < ra.train_loss[0]
    assert ra.train_loss == rb.train_loss
    assert same_weights(a, b)
    assert len(ra.val_accuracy) == 3 and len(ra.epoch_seconds) == 3 and not a.training


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (TrainConfig(epochs=0), "epochs"),
        (TrainConfig(lr=0.0), "learning rate"),
        (TrainConfig(lr=-1), "learning rate"),
        (TrainConfig(lr=float("nan")), "learning rate"),
        (TrainConfig(batch_size=0), "batch size"),
        (TrainConfig(adv_ratio=1.5), "adv_ratio"),
        (TrainConfig(adv_ratio=-0.1), "adv_ratio"),
        (TrainConfig(adv_eps=-0.1), "adv_eps"),
        (TrainConfig(adv="fgsm", adv_eps=float("inf")), "adv_eps"),
        (TrainConfig(adv="fgsm", adv_eps=0.0), "adv_eps"),
        (TrainConfig(adv="bim", adv_eps=0.1), "unknown adversarial training method 'bim'"),
        (TrainConfig(eps_units="volts"), "eps units"),
        (TrainConfig(pgd_steps=0), "pgd_steps"),
        (TrainConfig(milestones=(0,)), "milestone"),
        (TrainConfig(weight_decay=-1.0), "weight_decay"),
    ],
)
def test_bad_config_refused_before_training(cfg: TrainConfig, match: str) -> None:
    model = fresh_model()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ConfigError, match=match):
        train(model, blobs(), None, cfg)
    assert all(torch.equal(p, q) for p, q in zip(before, model.parameters(), strict=True))


def test_normalized_eps_needs_a_normalized_model() -> None:
    net = bn_dropout_model().net
    with pytest.raises(ConfigError, match="NormalizedModel"):
        train(net, blobs(), None, TrainConfig(adv="fgsm", adv_eps=0.1))


SETTINGS: dict[str, dict[str, Any]] = {
    "plain": {},
    "augment": {"augment": True},
    "fgsm": {"adv": "fgsm", "adv_ratio": 0.3, "adv_eps": 0.3},
    "pgd+augment": {
        "adv": "pgd",
        "adv_ratio": 1.0,
        "adv_eps": 0.1,
        "pgd_steps": 2,
        "augment": True,
    },
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_resume_gives_bit_identical_weights(tmp_path: Path, name: str) -> None:
    data = blobs(96)
    cfg = TrainConfig(epochs=4, lr=0.05, batch_size=32, milestones=(2, 3), seed=3, **SETTINGS[name])
    whole = bn_dropout_model()
    r_whole = train(whole, data, data, cfg, state_file=tmp_path / "a.pt")
    half = bn_dropout_model()
    state = tmp_path / "b.pt"
    r_half = train(half, data, data, dataclasses.replace(cfg, epochs=2), state_file=state)
    assert r_half.train_loss == r_whole.train_loss[:2]
    resumed = bn_dropout_model()  # fresh weights: everything comes from the state
    r_res = train(resumed, data, data, cfg, state_file=state, resume=True)
    assert same_weights(resumed, whole)
    assert r_res.start_epoch == 2 and r_res.train_loss == r_whole.train_loss
    assert r_res.val_accuracy == r_whole.val_accuracy
    assert torch.load(state, weights_only=True)["epoch"] == 4


class Interrupt(Exception):
    pass


def test_resume_after_an_interruption_mid_epoch(tmp_path: Path) -> None:
    data = blobs(96)
    cfg = TrainConfig(epochs=3, lr=0.05, batch_size=32, seed=5, adv="fgsm", adv_eps=0.2)
    whole = bn_dropout_model()
    train(whole, data, None, cfg)

    def stop(event: TrainProgress) -> None:
        if event.kind == "batch" and event.epoch == 2 and event.batch == 2:
            raise Interrupt

    state = tmp_path / "state.pt"
    with pytest.raises(Interrupt):
        train(bn_dropout_model(), data, None, cfg, state_file=state, progress=stop)
    assert torch.load(state, weights_only=True)["epoch"] == 1
    resumed = bn_dropout_model()
    train(resumed, data, None, cfg, state_file=state, resume=True)
    assert same_weights(resumed, whole)


def test_resume_refuses_other_settings_naming_them(tmp_path: Path) -> None:
    data, state = blobs(64), tmp_path / "state.pt"
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=32)
    ident = {"arch": "digitsnet"}
    train(fresh_model(), data, None, cfg, state_file=state, identity=ident)
    other = dataclasses.replace(cfg, lr=0.1, seed=1, epochs=3)
    with pytest.raises(ConfigError, match=r"lr \(saved 0.05, now 0.1\); seed") as exc:
        train(fresh_model(), data, None, other, state_file=state, resume=True)
    assert "epochs" not in str(exc.value)
    with pytest.raises(ConfigError, match="arch"):
        train(fresh_model(), data, None, cfg, state_file=state, resume=True, identity={"arch": "x"})
    with pytest.raises(ConfigError, match="more than epochs=1"):
        one = dataclasses.replace(cfg, epochs=1)
        train(fresh_model(), data, None, one, state_file=state, resume=True, identity=ident)
    with pytest.raises(ConfigError, match="nothing to resume from"):
        train(fresh_model(), data, None, cfg, state_file=tmp_path / "none.pt", resume=True)


def test_progress_events_per_batch_and_epoch() -> None:
    events: list[TrainProgress] = []
    cfg = TrainConfig(epochs=2, batch_size=32, adv="fgsm", adv_ratio=0.5, adv_eps=0.1)
    train(fresh_model(), blobs(80), blobs(20, seed=1), cfg, progress=events.append)
    kinds = [e.kind for e in events]
    assert kinds == (["batch"] * 3 + ["epoch"]) * 2
    assert [e.adv_examples for e in events[:4]] == [16, 16, 8, 40]
    assert events[3].val_accuracy is not None and events[0].batches == 3


def _job(tmp_path: Path, **kw: Any) -> TrainJob:
    cfg = TrainConfig(epochs=2, lr=0.05, batch_size=64, milestones=(1,), gamma=0.1, seed=2)
    base: dict[str, Any] = {"arch": "digitsnet", "dataset": "digits", "out": tmp_path / "m.pt"}
    return TrainJob(**{**base, "config": cfg, "limit": 256, **kw})


def test_run_training_writes_loadable_checkpoints_with_metadata(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = _job(tmp_path, command="jumprelu train ...")
    result = run_training(job)
    out = tmp_path / "m.pt"
    assert result.final_path == out and result.test_accuracy is not None
    assert sorted(p.name for p in epoch_dir(out).iterdir()) == [
        "epoch001.pt",
        "epoch002.pt",
        "resume.pt",
    ]
    model, meta = load_checkpoint(out)
    assert meta.arch == "digitsnet" and meta.dataset == "digits"
    assert meta.mean == DATASETS["digits"].mean and meta.std == DATASETS["digits"].std
    t = meta.training
    assert t["config"] == job.config.to_dict() and t["recipe"] == "plain"
    assert t["epoch"] == 2 and t["seed"] == 2 and t["command"] == "jumprelu train ..."
    assert t["val_accuracy"] == result.val_accuracy[-1] and t["val_history"] == result.val_accuracy
    assert t["test_accuracy"] == result.test_accuracy
    first, meta1 = load_checkpoint(epoch_checkpoint_path(out, 1))
    assert meta1.training["epoch"] == 1 and not same_weights(first, model)
    test = load_split("digits", "test")
    assert int((predict(model, test.x) == test.y).sum()) / len(test) == result.test_accuracy
    assert torch.load(state_path(out), weights_only=True)["epoch"] == 2
    assert main(["accuracy", "--checkpoint", str(out), "--dataset", "digits", "--n", "20"]) == 0


def test_run_training_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    fgsm = {"adv": "fgsm", "adv_ratio": 0.3, "adv_eps": 0.3}
    whole = _job(tmp_path / "a", test=False, keep_epochs=1)
    whole.config = dataclasses.replace(whole.config, **fgsm)
    run_training(whole)
    assert [p.name for p in sorted(epoch_dir(whole.out).iterdir())] == ["epoch002.pt", "resume.pt"]
    half = _job(tmp_path / "b", test=False)
    half.config = dataclasses.replace(half.config, epochs=1, **fgsm)
    run_training(half)
    rest = dataclasses.replace(half, config=whole.config, resume=True)
    result = run_training(rest)
    assert result.start_epoch == 1
    a, meta = load_checkpoint(whole.out)
    b, _ = load_checkpoint(rest.out)
    assert same_weights(a, b) and meta.training["recipe"] == "fgsm"
    assert meta.training["adv_eps_pixels"] == pytest.approx([0.3 * DATASETS["digits"].std[0]])
    again = run_training(rest)  # nothing left to train: the final checkpoint is rewritten
    assert again.start_epoch == 2 and same_weights(load_checkpoint(rest.out)[0], a)
    with pytest.raises(ConfigError, match=r"limit \(saved 256, now 128\)"):
        run_training(dataclasses.replace(rest, limit=128))
    state_path(rest.out).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot read training state"):
        run_training(rest)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"arch": "lenet"}, "expects 1x28x28"),
        ({"dataset": "imagenet"}, "unknown dataset"),
        ({"resume": True}, "nothing to resume from"),
        ({"keep_epochs": -1}, "keep_epochs"),
        ({"limit": 0}, "limit"),
        ({"config": TrainConfig(batch_size=-3)}, "batch size"),
    ],
)
def test_run_training_refuses_bad_jobs_before_training(
    tmp_path: Path, kw: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        run_training(_job(tmp_path, **kw))
    assert not any(tmp_path.iterdir())


def test_paper_recipes() -> None:
    mnist = paper_recipe("mnist", adversarial=True)
    assert (mnist.lr, mnist.milestones, mnist.epochs, mnist.gamma) == (0.02, (30, 60, 80), 90, 0.2)
    assert (mnist.adv, mnist.adv_ratio, mnist.adv_eps) == ("fgsm", 0.3, 0.3)
    cifar = paper_recipe("cifar10")
    assert cifar.augment and cifar.adv == "none" and cifar.milestones == (30, 60, 90)
    with pytest.raises(ConfigError):
        paper_recipe("svhn")


def test_shipped_default_model_is_accurate_and_documented() -> None:
    model, meta = load_checkpoint(default_model_path())
    test = load_split("digits", "test")
    acc = float((predict(model, test.x) == test.y).float().mean())
    assert meta.arch == "digitsnet" and meta.dataset == "digits"
    assert acc == pytest.approx(meta.training["test_accuracy"]) and acc > 0.97
    assert meta.training["command"] == "python scripts/make_default_model.py"


def test_shipped_model_sweep_decreases_weakly_with_large_jumps() -> None:
    model, _ = load_checkpoint(default_model_path())
    sweep = clean_accuracy_sweep(model, load_split("digits", "test"), "0,0.5,50")
    assert sweep.dataset == "digits" and sweep.rows[0].accuracy > 0.97
    assert sweep.rows[2].accuracy < 0.5  # a huge jump silences the network


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "cli"])
def test_shipped_default_model_reproduces_bit_for_bit(tmp_path: Path, how: str) -> None:
    """Both documented commands rebuild ``assets/digitsnet.pt`` exactly (about 5 s each)."""
    out = tmp_path / "digitsnet.pt"
    if how == "script":
        script = Path(__file__).parents[1] / "scripts" / "make_default_model.py"
        cmd = [sys.executable, str(script), "--out", str(out)]
    else:
        cmd = [sys.executable, "-m", "jumprelu", "-q", "train", "--arch", "digitsnet"]
        cmd += ["--dataset", "digits", "--keep-epochs", "0", "--out", str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    shipped, _ = load_checkpoint(default_model_path())
    rebuilt, _ = load_checkpoint(out)
    a, b = shipped.state_dict(), rebuilt.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
