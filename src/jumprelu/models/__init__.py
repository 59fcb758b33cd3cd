"""Models: the architecture registry (plain data), builders, normalisation and checkpoints.

``build_net`` gives the bare network (normalised inputs); ``build_model`` wraps it in a
``NormalizedModel`` that takes images in [0, 1]. The registry lives in ``registry``, the
builders in ``build``, one architecture family per module, checkpoints in ``checkpoints``.
"""

from __future__ import annotations

from jumprelu.models.build import build_model, build_net
from jumprelu.models.mobilenet import MobileNetV2
from jumprelu.models.normalize import Normalize, NormalizedModel
from jumprelu.models.paper_mobilenet import PaperMobileNetV2
from jumprelu.models.paper_wrn import PaperWideResNet
from jumprelu.models.registry import ARCHS, ArchSpec, check_arch_fits, get_arch
from jumprelu.models.resnet import CifarResNet
from jumprelu.models.small import AlexLike, DigitsNet, LeNet
from jumprelu.models.stats import check_mean_std
from jumprelu.models.wide_resnet import WideResNet

__all__ = [
    "ARCHS",
    "AlexLike",
    "ArchSpec",
    "CifarResNet",
    "DigitsNet",
    "LeNet",
    "MobileNetV2",
    "Normalize",
    "NormalizedModel",
    "PaperMobileNetV2",
    "PaperWideResNet",
    "WideResNet",
    "build_model",
    "build_net",
    "check_arch_fits",
    "check_mean_std",
    "get_arch",
]
