"""Readers for the raw dataset files; ``jumprelu.datasets.core`` is the public entry point.

Each reader returns numpy ``(x, y)``: uint8 images (N, C, H, W) and int64 labels (N,).
"""

from __future__ import annotations

from jumprelu.datasets import cifar10, digits, mnist

__all__ = ["cifar10", "digits", "mnist"]
