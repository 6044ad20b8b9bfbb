"""One small error hierarchy. Every error a user can cause subclasses a builtin too."""


class HwnasError(Exception):
    """Base of every error hwnas raises on purpose."""


class ConfigError(HwnasError, ValueError):
    """A subnet, space or file that is malformed or does not fit."""


class UnknownNameError(HwnasError, LookupError):
    """A preset, device or family name that no registry knows."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(HwnasError, ImportError):
    """An optional backend (TensorRT, CUDA, ...) is not installed or not usable here."""


class DeviceUnavailableError(HwnasError, RuntimeError):
    """A device exists but cannot run on this machine."""


class NotFoundError(HwnasError, FileNotFoundError):
    """A checkpoint, store or predictor that an earlier step should have made is missing."""


class InfeasibleError(HwnasError, ValueError):
    """No subnet satisfies the constraints."""


class OutOfChoicesWarning(UserWarning):
    """A subnet lies within the supernet's maximum dims but outside the space's choices."""
