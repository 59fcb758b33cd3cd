"""Datasets: ``core`` is the entry point (``load_split``, ``DatasetInfo``, ``Split``).

The readers (``mnist``, ``cifar10``, ``digits``, ``custom``) return numpy ``(x, y)``: uint8
images (N, C, H, W) and int64 labels (N,).
"""

from __future__ import annotations

from jumprelu.datasets import cifar10, digits, mnist
from jumprelu.datasets.core import DATASETS, DatasetInfo, Split, load_split

__all__ = ["DATASETS", "DatasetInfo", "Split", "cifar10", "digits", "load_split", "mnist"]
