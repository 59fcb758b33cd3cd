"""Tests for the architecture registry, the builders and the Normalize layer."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from jumprelu.errors import ConfigError
from jumprelu.models import (
    ARCHS,
    Normalize,
    NormalizedModel,
    build_model,
    build_net,
    check_arch_fits,
    get_arch,
)

_RELU_FUNCS = {F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_}


class _CountRelu(TorchFunctionMode):
    """Counts every ReLU evaluation, whether through a module or functional."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func in _RELU_FUNCS:
            self.calls += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_arch_builds_and_gives_logits(arch: str) -> None:
    spec = ARCHS[arch]
    net = build_net(arch).eval()
    with torch.no_grad():
        out = net(torch.rand(2, *spec.input_shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()
    assert spec.name == arch and spec.datasets


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_num_classes_option(arch: str) -> None:
    net = build_net(arch, num_classes=7).eval()
    with torch.no_grad():
        assert net(torch.rand(1, *ARCHS[arch].input_shape)).shape == (1, 7)


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_activation_site_is_its_own_relu(arch: str) -> None:
    net = build_net(arch).eval()
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relus, "no ReLU modules"
    assert not any(isinstance(m, (nn.ReLU6, nn.Hardtanh)) for m in net.modules())
    calls: Counter[int] = Counter()
    hooks = [m.register_forward_hook(lambda m, i, o: calls.update([id(m)])) for m in relus]
    counter = _CountRelu()
    with torch.no_grad(), counter:
        net(torch.rand(2, *ARCHS[arch].input_shape))
    for h in hooks:
        h.remove()
    assert all(calls[id(m)] == 1 for m in relus), "a ReLU instance is unused or reused"
    assert counter.calls == len(relus), "functional relu outside nn.ReLU modules"


def test_lenet_parameter_names_match_the_released_checkpoints() -> None:
    names = [n for n, _ in build_net("lenet").named_parameters()]
    assert names == [
        f"{layer}.{kind}"
        for layer in ("conv1", "conv2", "fc1", "fc2", "fc3")
        for kind in ("weight", "bias")
    ]
    shapes = {n: tuple(p.shape) for n, p in build_net("lenet").named_parameters()}
    assert shapes["conv1.weight"] == (10, 1, 5, 5)
    assert shapes["conv2.weight"] == (20, 10, 5, 5)
    assert shapes["fc1.weight"] == (120, 320)
    assert shapes["fc2.weight"] == (90, 120)
    assert shapes["fc3.weight"] == (10, 90)


def test_lenet_dropout_only_in_training() -> None:
    net = build_net("lenet")
    x = torch.rand(4, 1, 28, 28)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))


def test_resnet20_names_and_size() -> None:
    net = build_net("resnet20")
    names = {n for n, _ in net.named_parameters()}
    for key in ("conv1.weight", "bn1.weight", "fc.weight", "fc.bias"):
        assert key in names
    for k in (1, 2, 3):
        for i in range(3):
            for part in ("conv1", "bn1", "conv2", "bn2"):
                assert f"layer{k}.{i}.{part}.weight" in names
            assert f"layer{k}.{i}.conv1.bias" not in names
    assert "layer2.0.downsample.0.weight" in names
    assert "layer2.0.downsample.1.weight" in names
    assert "layer3.0.downsample.0.weight" in names
    assert not any(n.startswith("layer1.0.downsample") for n in names)
    assert not any(n.startswith("layer2.1.downsample") for n in names)
    assert "layer4.0.conv1.weight" not in names
    ds = net.layer2[0].downsample[0]
    assert ds.kernel_size == (1, 1) and ds.stride == (2, 2) and ds.bias is None
    n_params = sum(p.numel() for p in net.parameters())
    assert 0.26e6 < n_params < 0.28e6


def test_wrn_and_mobilenet_options() -> None:
    small = build_net("wrn", depth=10, widen_factor=1, dropout=0.3).eval()
    assert small(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    assert len(small.layer1) == 1
    thin = build_net("mobilenetv2", width_mult=0.5).eval()
    assert thin(torch.rand(1, 3, 32, 32)).shape == (1, 10)
    full = sum(p.numel() for p in build_net("mobilenetv2").parameters())
    assert sum(p.numel() for p in thin.parameters()) < full
    for arch, kwargs in [
        ("wrn", {"depth": 15}),
        ("wrn", {"widen_factor": 0}),
        ("wrn", {"dropout": 1.0}),
        ("mobilenetv2", {"width_mult": 0}),
        ("lenet", {"num_classes": 1}),
        ("lenet", {"in_channels": 0}),
    ]:
        with pytest.raises(ConfigError):
            build_net(arch, **kwargs)


def test_in_channels_option() -> None:
    net = build_net("resnet20", in_channels=1).eval()
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 10)


def test_unknown_arch_lists_known_names() -> None:
    with pytest.raises(ConfigError) as info:
        build_net("vgg16")
    for name in ARCHS:
        assert name in str(info.value)
    with pytest.raises(ConfigError):
        get_arch("vgg16")


def test_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="widen"):
        build_net("wrn", widen=3)


def test_check_arch_fits() -> None:
    check_arch_fits("lenet", (1, 28, 28), 10)
    check_arch_fits("resnet20", (3, 32, 32), 10)
    check_arch_fits("digitsnet", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="lenet"):
        check_arch_fits("lenet", (3, 32, 32), 10)
    with pytest.raises(ConfigError):
        check_arch_fits("resnet20", (1, 28, 28), 10)
    with pytest.raises(ConfigError):
        check_arch_fits("lenet", (1, 28, 28), 1)
    with pytest.raises(ConfigError):
        check_arch_fits("nope", (1, 28, 28), 10)


def test_normalize_layer() -> None:
    norm = Normalize((0.5, 0.25, 0.0), (0.5, 2.0, 1.0))
    assert norm.mean.shape == (1, 3, 1, 1) and norm.std.shape == (1, 3, 1, 1)
    x = torch.rand(2, 3, 4, 4)
    expected = (x - torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)) / torch.tensor(
        [0.5, 2.0, 1.0]
    ).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), expected)
    assert norm.stats() == ((0.5, 0.25, 0.0), (0.5, 2.0, 1.0))
    for mean, std in [((0.1,), (0.0,)), ((0.1, 0.2), (1.0,)), ((), ()), ((0.1,), (-1.0,))]:
        with pytest.raises(ConfigError):
            Normalize(mean, std)


def test_normalized_model_equals_net_of_normalized_input() -> None:
    model = build_model("lenet", mean=(0.1307,), std=(0.3081,)).eval()
    assert isinstance(model, NormalizedModel)
    assert model.mean == (0.1307,) and model.std == (0.3081,)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(model(x), model.net(model.normalize(x)))
        assert torch.allclose(model(x), model.net((x - 0.1307) / 0.3081), atol=1e-5)
    with pytest.raises(ConfigError, match="channel"):
        build_model("lenet", mean=(0.1, 0.2, 0.3), std=(1.0, 1.0, 1.0))


def test_digitsnet_trains_quickly() -> None:
    gen = torch.Generator().manual_seed(0)
    protos = torch.rand(10, 1, 8, 8, generator=gen)
    y = torch.arange(200) % 10
    x = (protos[y] + 0.15 * torch.randn(200, 1, 8, 8, generator=gen)).clamp(0, 1)
    model = build_model("digitsnet", mean=(0.5,), std=(0.3,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(25):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc > 0.9
