"""What a command's --space and --subnet arguments name, resolved from files and presets (torch-free).

A checkpoint's space needs torch to read: :mod:`hwnas.supernet.resolve` adds that step.
"""

from __future__ import annotations

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import load_space_file, load_subnet, read_yaml

BOUNDS = ("max", "min")


def resolve_subnet(space: SearchSpace, spec: str | SubnetConfig) -> SubnetConfig:
    """'max', 'min', a RETRAIN YAML path or a config; validated (warns when outside the choices)."""
    if isinstance(spec, SubnetConfig):
        cfg = spec
    elif spec in BOUNDS:
        cfg = space.max_config() if spec == "max" else space.min_config()
    else:
        cfg = load_subnet(spec)
    return space.validate(cfg)


def space_of_subnet_file(subnet: str | None) -> SearchSpace | None:
    """The space saved beside a subnet in its YAML file (hwnas writes one), if any."""
    if subnet and subnet not in BOUNDS and "SUPERNET" in read_yaml(subnet):
        return load_space_file(subnet)
    return None


def resolve_space(space: str | None, subnet: str | None = None, default: bool = True) -> SearchSpace | None:
    """--space if given; else the space saved with the subnet YAML; else the default preset (or None
    with ``default=False``)."""
    if space:
        return presets.get(space)
    found = space_of_subnet_file(subnet)
    if found is not None:
        return found
    return presets.get(presets.DEFAULT_SPACE) if default else None
