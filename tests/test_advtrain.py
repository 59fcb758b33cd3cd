"""Adversarial training batches and CIFAR-style augmentation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jumprelu.datasets.core import DATASETS, Split
from jumprelu.errors import ConfigError
from jumprelu.models import NormalizedModel
from jumprelu.training.adversarial import adversarial_mix, fgsm_examples, pgd_examples, pixel_radius
from jumprelu.training.augment import random_crop_flip
from jumprelu.training.loop import TrainConfig, train

STD = (0.2, 0.4, 0.3)


class Recorder(nn.Module):
    """Identity that records the mode of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return x


def rgb_model() -> tuple[NormalizedModel, Recorder, nn.BatchNorm2d]:
    torch.manual_seed(0)
    rec, bn = Recorder(), nn.BatchNorm2d(4)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), bn, nn.ReLU(), rec, nn.Flatten(), nn.Linear(4 * 36, 10)
    )
    return NormalizedModel(net, (0.5, 0.5, 0.5), STD).train(), rec, bn


def batch(n: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 3, 6, 6, generator=g) * 0.6 + 0.2, torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
def test_crafted_in_eval_mode_without_touching_batchnorm_or_grads(method: str) -> None:
    model, rec, bn = rgb_model()
    x, y = batch()
    stats = (bn.running_mean.clone(), bn.running_var.clone(), bn.num_batches_tracked.clone())
    eps = pixel_radius(model, 0.1, "normalized", x.device)
    _, k = adversarial_mix(
        model, x, y, method=method, ratio=0.5, eps=eps, steps=3, gen=torch.Generator()
    )
    assert k == 5 and rec.modes and not any(rec.modes)
    assert model.training and bn.training
    assert torch.equal(bn.running_mean, stats[0]) and torch.equal(bn.running_var, stats[1])
    assert torch.equal(bn.num_batches_tracked, stats[2])
    assert all(p.grad is None for p in model.parameters())


def test_training_crafts_in_eval_and_steps_in_train_mode() -> None:
    model, rec, _ = rgb_model()
    x, y = batch(8)
    data = Split(x, y, DATASETS["cifar10"], "train")
    cfg = TrainConfig(epochs=1, batch_size=8, adv="fgsm", adv_ratio=0.5, adv_eps=0.1)
    train(model, data, None, cfg)
    assert rec.modes == [False, True]  # the FGSM gradient, then the training step


@pytest.mark.parametrize(("n", "ratio"), [(10, 0.0), (10, 0.3), (10, 0.25), (7, 0.6), (9, 1.0)])
def test_exactly_round_ratio_times_batch_replaced(n: int, ratio: float) -> None:
    model, _, _ = rgb_model()
    x, y = batch(n)
    eps = pixel_radius(model, 0.1, "normalized", x.device)
    mixed, k = adversarial_mix(model, x, y, method="fgsm", ratio=ratio, eps=eps)
    changed = (mixed != x).flatten(1).any(1)
    assert k == round(ratio * n) and int(changed.sum()) == k and bool(changed[:k].all())
    assert mixed.shape == x.shape


def test_fgsm_uses_a_per_channel_radius_in_pixels_and_stays_in_the_box() -> None:
    model, _, _ = rgb_model()
    x, y = batch()
    eps = pixel_radius(model, 0.25, "normalized", x.device)
    assert torch.allclose(eps.flatten(), torch.tensor(STD) * 0.25)
    adv = fgsm_examples(model, x, y, eps)
    delta = (adv - x).abs().amax(dim=(0, 2, 3))
    assert torch.allclose(delta, torch.tensor(STD) * 0.25, atol=1e-6)
    edge = fgsm_examples(model, x.clamp(0.95, 1.0), y, pixel_radius(model, 1.0, "pixel", x.device))
    assert float(edge.min()) >= 0 and float(edge.max()) <= 1


def test_pgd_stays_in_ball_is_seeded_and_beats_the_clean_loss() -> None:
    model, _, _ = rgb_model()
    model.eval()
    x, y = batch()
    eps = pixel_radius(model, 0.3, "normalized", x.device)

    def run(seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return pgd_examples(model, x, y, eps, steps=5, step_size=eps / 4, random_start=True, gen=g)

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert bool(((a - x).abs() <= eps + 1e-6).all()) and 0 <= float(a.min()) <= float(a.max()) <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(a), y) > F.cross_entropy(model(x), y)


@pytest.mark.parametrize("units", ["normalized", "pixel"])
def test_batches_lie_in_the_per_channel_ball_and_box_with_a_higher_loss(units: str) -> None:
    model, _, _ = rgb_model()
    x, y = batch(16)
    eps = pixel_radius(model, 0.2, units, x.device)
    gen = torch.Generator().manual_seed(4)
    for method in ("fgsm", "pgd"):
        mixed, k = adversarial_mix(model, x, y, method=method, ratio=1.0, eps=eps, steps=4, gen=gen)
        assert k == 16 and bool(((mixed - x).abs() <= eps + 1e-6).all())
        assert 0 <= float(mixed.min()) <= float(mixed.max()) <= 1
        with torch.no_grad():
            model.eval()
            assert F.cross_entropy(model(mixed), y) > F.cross_entropy(model(x), y)
            model.train()


@pytest.mark.parametrize("random_start", [True, False])
def test_pgd_draws_one_uniform_per_input_value_from_the_training_generator(
    random_start: bool,
) -> None:
    """The training loop's generator advances as it always has: resumed runs stay identical."""
    model, _, _ = rgb_model()
    x, y = batch()
    eps = pixel_radius(model, 0.1, "normalized", x.device)
    gen, ref = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    pgd_examples(model, x, y, eps, steps=2, step_size=eps / 2, random_start=random_start, gen=gen)
    if random_start:
        torch.rand(x.shape, generator=ref)
    assert torch.equal(gen.get_state(), ref.get_state())


def test_bad_adversarial_arguments() -> None:
    model, _, _ = rgb_model()
    x, y = batch()
    eps = pixel_radius(model, 0.1, "pixel", x.device)
    with pytest.raises(ConfigError, match="adv_ratio"):
        adversarial_mix(model, x, y, method="fgsm", ratio=1.2, eps=eps)
    with pytest.raises(ConfigError, match="unknown adversarial method"):
        adversarial_mix(model, x, y, method="cw", ratio=0.5, eps=eps)
    with pytest.raises(ConfigError, match="NormalizedModel"):
        pixel_radius(model.net, 0.1, "normalized", x.device)
    with pytest.raises(ConfigError, match="units"):
        pixel_radius(model, 0.1, "furlongs", x.device)


def test_augmentation_keeps_shapes_is_seeded_and_crops_or_flips() -> None:
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    a = random_crop_flip(x, torch.Generator().manual_seed(7))
    b = random_crop_flip(x, torch.Generator().manual_seed(7))
    c = random_crop_flip(x, torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    padded = F.pad(x, (4, 4, 4, 4))
    for i in range(len(x)):  # every output is a 32x32 window of the padded image, maybe flipped
        windows = [
            w
            for r in range(9)
            for s in range(9)
            for w in (padded[i, :, r : r + 32, s : s + 32],)
            for w in (w, w.flip(2))
        ]
        assert any(torch.equal(a[i], w) for w in windows)
    assert torch.equal(random_crop_flip(x, torch.Generator(), padding=0, flip=False), x)
    with pytest.raises(ConfigError):
        random_crop_flip(x, torch.Generator(), padding=-1)
