"""Exceptions raised by jumprelu. The CLI turns each into a one-line error and a non-zero exit."""

from __future__ import annotations


class JumpReLUError(ValueError):
    """Base class of every error jumprelu raises on bad input.

    Example:
        >>> import jumprelu
        >>> try:
        ...     jumprelu.JumpReLU(jump=-1.0)
        ... except jumprelu.JumpReLUError as exc:
        ...     print(type(exc).__name__, "-", exc)
        ConfigError - jump must be a number in [0, 1e+06], got -1.0
        >>> issubclass(jumprelu.JumpReLUError, ValueError)
        True
    """


class DataError(JumpReLUError):
    """A data file is missing, corrupt, or not in an expected format."""


class CheckpointError(JumpReLUError):
    """A checkpoint is missing, unreadable, or does not fit the architecture."""


class RetrofitError(JumpReLUError):
    """A model cannot be retrofitted (for example it has no ReLU site)."""


class ConfigError(JumpReLUError):
    """An argument is out of range or otherwise invalid (jump, epsilon, names, ...)."""
