"""Known checkpoints: the files Erichson et al. released with the paper, as plain data.

Every entry names its file in the authors' repository (github.com/erichson/JumpReLU, commit
``COMMIT``), a download address pinned to that commit, its hashes, the project architecture
its weights load into, the dataset, the normalisation it was trained with, how it was trained
(the authors' ``train_protocol.md``) and the jump grid and test batch size of the authors'
attack commands. ``git_blob`` is git's blob hash of the file, read from the repository's tree
at ``COMMIT``; ``sha256`` is known only for the files copied into ``shared/reference``.
What an entry holds is ``zoo_entry.ZooEntry``; resolving and verifying the files lives in
``zoo_files``.
"""

from __future__ import annotations

from typing import Any

from jumprelu.models.zoo_entry import COMMIT, HUNDREDTHS, PREFIX, REPO, ZooEntry

__all__ = ["COMMIT", "PREFIX", "REPO", "ZOO", "ZooEntry"]

_MNIST = ((0.1307,), (0.3081,))
#: The statistics the authors' CIFAR-10 code normalises with (not the data's true std).
_CIFAR = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))
_MNIST_JUMPS = (0.0, 0.5, 1.0, 1.5)
_TENTHS = tuple(round(0.1 * i, 1) for i in range(9))
_FGSM = "; {ratio:.0%} of every batch replaced by FGSM examples, eps = {eps} (normalised units)"


def _lenet(kind: str, training: str, git_blob: str, sha256: str) -> ZooEntry:
    return ZooEntry(
        f"lenet-mnist-{kind}",
        f"mnist_result/LeNetLike_{kind}.pkl",
        "lenet",
        "mnist",
        *_MNIST,
        training=training,
        git_blob=git_blob,
        sha256=sha256,
        local_name=f"lenet_mnist_{kind}.pkl",
        jumps=_MNIST_JUMPS,
        test_batch_size=2000,
    )


def _cifar(name: str, file: str, arch: str, training: str, git_blob: str, **kw: Any) -> ZooEntry:
    return ZooEntry(
        name, f"cifar10_result/{file}", arch, "cifar10", *_CIFAR, training, git_blob, **kw
    )


_LENET_SGD = "SGD, 90 epochs, lr 0.02, x0.2 at 30/60/80, wd 5e-4, batch 128"
_CIFAR_SGD = "SGD, 120 epochs, lr 0.1, x0.1 at 30/60/90, wd 5e-4, batch 128"
_ALEX_SGD = "SGD, 90 epochs, lr 0.02, x0.2 at 30/60/80, wd 5e-4, batch 128"
_ALEX_ROBUST = "SGD, 120 epochs, lr 0.02, x0.2 at 30/60/90, wd 5e-4, batch 128"
_WRN = {"depth": 34, "widen_factor": 4}

#: The released checkpoints by zoo name.
ZOO: dict[str, ZooEntry] = {
    e.name: e
    for e in (
        _lenet(
            "baseline",
            _LENET_SGD,
            "414a395a6a6fb3e18af42b46f6f09315a69902af",
            "e115ba0ee89ecbd8c4b128a5988ae4eef70ae2f07e75286fcd38961f9b62227f",
        ),
        _lenet(
            "robust",
            _LENET_SGD + _FGSM.format(ratio=0.3, eps=0.3),
            "d2c5004b6913a638c649c003abd1c508e7e6e8fa",
            "01d9822eda9d39dcf4ebcdffc5f09abbf914304080a3b116e7921ec7db82bb6e",
        ),
        _lenet(
            "distillation",
            "defensive distillation (details not published)",
            "993c5c230b00ca5128b95a9696b362448369d15c",
            "b5dc7c8529571d93f7704d51667330c0651a110c2478e23161337dc9c843e545",
        ),
        _cifar(
            "resnet20-cifar10-baseline",
            "ResNet_baseline.pkl",
            "resnet20",
            _CIFAR_SGD,
            "129ce01e2427a90e453039c39f22e14512cff932",
            sha256="38ed3492faea8d8b3e265b258a9044d5d8c67364046a12941d16b56246f84294",
            local_name="resnet20_cifar10_baseline.pkl",
        ),
        _cifar(
            "resnet20-cifar10-robust",
            "ResNet_robust.pkl",
            "resnet20",
            _CIFAR_SGD + _FGSM.format(ratio=0.6, eps=0.031),
            "e07a6ae57aa6be6e0c0160ebe6c29d439d0ebde9",
            sha256="5c147ab24435505b196ac2d4bf701a4481dd7d36f96eb9f689b0387327d911fc",
            local_name="resnet20_cifar10_robust.pkl",
        ),
        _cifar(
            "alexlike-cifar10-baseline",
            "AlexLike_baseline.pkl",
            "alexlike",
            _ALEX_SGD,
            "e5bb00f3ab8e818d6a38758dc034191e706db8c3",
            jumps=_TENTHS,
        ),
        _cifar(
            "alexlike-cifar10-robust",
            "AlexLike_robust.pkl",
            "alexlike",
            _ALEX_ROBUST + _FGSM.format(ratio=0.6, eps=0.031),
            "175d1c41d5e7325b0330fc3e3e294b3df43280cc",
            jumps=_TENTHS,
        ),
        _cifar(
            "alexlike-cifar10-distillation",
            "AlexLike_distillation.pkl",
            "alexlike",
            "defensive distillation (details not published)",
            "4899f8762d341170edeabd7564749bde2d294c70",
            jumps=_TENTHS,
        ),
        _cifar(
            "wrn34-4-cifar10-baseline",
            "WideResNet_baseline.pkl",
            "wrn-paper",
            _CIFAR_SGD,
            "4a9291c45ff872ad817954267e77832e4c1f50bb",
            arch_kwargs=_WRN,
            test_batch_size=200,
        ),
        _cifar(
            "wrn34-4-cifar10-robust",
            "WideResNet_robust.pkl",
            "wrn-paper",
            _CIFAR_SGD + _FGSM.format(ratio=0.6, eps=0.031),
            "3c02c41536240beaca899360e3caa87c679eb3d5",
            arch_kwargs=_WRN,
            test_batch_size=200,
        ),
        _cifar(
            "mobilenetv2-cifar10-baseline",
            "MobileNetV2_baseline.pkl",
            "mobilenetv2-paper",
            _CIFAR_SGD,
            "b2e4e993ab2411fe582aca1c3e5032eba1de5812",
            test_batch_size=400,
        ),
        _cifar(
            "mobilenetv2-cifar10-robust",
            "MobileNetV2_robust.pkl",
            "mobilenetv2-paper",
            _CIFAR_SGD + _FGSM.format(ratio=0.6, eps=0.031),
            "55d85aa9fbcfbc32f4f35882b9707705b44e11d2",
            jumps=HUNDREDTHS[:-1],
            test_batch_size=400,
        ),
    )
}
