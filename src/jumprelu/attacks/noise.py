"""Gradients averaged over Gaussian input noise, with the model's exact forward pass.

Pintor, Demetrio, Sotgiu, Melis, Demontis and Biggio, "Indicators of Attack Failure:
Debugging and Improving Optimization of Adversarial Examples", NeurIPS 2022 (arXiv
2106.09947): averaging the input gradient over small Gaussian perturbations of the input (an
expectation over transformation) smooths out gradients that a defence made uninformative;
it is what broke k-WTA. The wrapper's forward returns the model's logits unchanged, so the
attack's success checks are exact; only the backward pass sees the average.
"""

from __future__ import annotations

import torch
from torch import nn

from jumprelu.attacks.rng import SampleRandom
from jumprelu.errors import ConfigError

__all__ = ["NoiseAveragedGradient"]

_PRIMES = torch.tensor([1000003, 998244353, 1000000007, 1234567891], dtype=torch.int64)


def _content_keys(x: torch.Tensor) -> torch.Tensor:
    """A per-sample integer key from the sample's values, the same in any batch."""
    bits = x.detach().float().cpu().flatten(1).view(torch.int32).to(torch.int64)
    weights = _PRIMES.repeat(bits.shape[1] // len(_PRIMES) + 1)[: bits.shape[1]]
    weights = weights * (torch.arange(bits.shape[1], dtype=torch.int64) + 1)
    return (bits * weights).sum(1)


class NoiseAveragedGradient(nn.Module):
    """Wrap a classifier: exact logits forward, noise-averaged input gradient backward.

    Args:
        model: the classifier (e.g. a retrofitted model with a BPDA gradient).
        sigma: std of the Gaussian noise added to the input (> 0, input units).
        samples: noise draws per gradient (>= 1).
        seed: seed of the noise; each sample's noise is keyed on its current values (a new
            draw at every new iterate), so it does not depend on the batching.
    """

    def __init__(self, model: nn.Module, sigma: float, samples: int = 8, seed: int = 0) -> None:
        super().__init__()
        if not sigma > 0 or samples < 1:
            raise ConfigError(f"noise needs sigma > 0 and samples >= 1, got {sigma}, {samples}")
        self.model, self.sigma, self.samples, self.seed = model, float(sigma), samples, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of ``model(x)``; when ``x`` requires grad, gradients are noise averages."""
        exact: torch.Tensor = self.model(x)
        if not (torch.is_grad_enabled() and x.requires_grad):
            return exact
        rng = SampleRandom(self.seed, _content_keys(x))
        z = rng.normal(0, self.samples, *x.shape[1:]).to(x.device, x.dtype)
        noisy = (x.unsqueeze(1) + self.sigma * z).flatten(0, 1)
        avg: torch.Tensor = self.model(noisy).view(len(x), self.samples, -1).mean(1)
        return avg + (exact - avg).detach()
