"""Torch-free core: subnet configs, search spaces, presets, analytic costs, errors."""

from hwnas.core import presets
from hwnas.core.complexity import count_macs, count_params, layer_costs
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import (
    ConfigError,
    DeviceUnavailableError,
    HwnasError,
    InfeasibleError,
    MissingDependencyError,
    NotFoundError,
    OutOfChoicesWarning,
    UnknownNameError,
)
from hwnas.core.presets import DEFAULT_SPACE
from hwnas.core.space import SearchSpace

get_space = presets.get

__all__ = [
    "SubnetConfig",
    "SearchSpace",
    "get_space",
    "presets",
    "DEFAULT_SPACE",
    "count_params",
    "count_macs",
    "layer_costs",
    "HwnasError",
    "ConfigError",
    "UnknownNameError",
    "MissingDependencyError",
    "DeviceUnavailableError",
    "NotFoundError",
    "InfeasibleError",
    "OutOfChoicesWarning",
]
