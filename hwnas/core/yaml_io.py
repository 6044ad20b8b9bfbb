"""AutoFormer's YAML files as they are (SUPERNET, SEARCH_SPACE, RETRAIN), plus hwnas's MODEL block."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from hwnas.core.atomic import atomic_write_text
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.core.validate import integer, integers, number, numbers_

# MODEL key -> (SearchSpace field, AutoFormer's default, type)
MODEL_KEYS: dict[str, tuple[str, Any, type]] = {
    "IMG_SIZE": ("img_size", 224, int),
    "PATCH_SIZE": ("patch_size", 16, int),
    "IN_CHANS": ("in_chans", 3, int),
    "NUM_CLASSES": ("num_classes", 1000, int),
    "HEAD_DIM": ("head_dim", 64, int),
    "QKV_BIAS": ("qkv_bias", True, bool),
    "RELATIVE_POSITION": ("relative_position", True, bool),
    "MAX_RELATIVE_POSITION": ("max_relative_position", 14, int),
    "GLOBAL_POOL": ("global_pool", True, bool),
}
_SUPER_KEYS = {"EMBED_DIM": "embed_dim", "NUM_HEADS": "num_heads", "DEPTH": "depth", "MLP_RATIO": "mlp_ratio"}


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"no such file: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p} is not a text (UTF-8) file") from None
    except RecursionError:
        raise ConfigError(f"{p} nests too deeply to be a configuration file") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"malformed YAML in {p}{where}: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p} must hold a YAML mapping of blocks (SUPERNET, SEARCH_SPACE, ...)")
    return data


def space_from_dict(data: Mapping[str, Any], name: str = "custom") -> SearchSpace:
    """Build a space from the blocks of an AutoFormer YAML file (MODEL optional, with defaults); every
    value is checked for its type (a ConfigError names the block and key)."""
    sup = data.get("SUPERNET")
    if not isinstance(sup, Mapping):
        raise ConfigError("a search-space file needs a SUPERNET block (EMBED_DIM, NUM_HEADS, DEPTH, MLP_RATIO)")
    missing = [k for k in _SUPER_KEYS if k not in sup]
    if missing:
        raise ConfigError(f"SUPERNET block lacks {', '.join(missing)}")
    ss = data.get("SEARCH_SPACE") or {k: [sup[k]] for k in _SUPER_KEYS}
    if not isinstance(ss, Mapping):
        raise ConfigError("SEARCH_SPACE must be a mapping of lists")
    model = data.get("MODEL") or {}
    if not isinstance(model, Mapping):
        raise ConfigError("MODEL must be a mapping")
    unknown = set(model) - set(MODEL_KEYS)
    if unknown:
        raise ConfigError(f"unknown MODEL keys {sorted(unknown, key=str)}; known: {sorted(MODEL_KEYS)}")
    geometry: dict[str, Any] = {}
    for key, (fname, default, typ) in MODEL_KEYS.items():
        v = model.get(key, default)
        if typ is bool and not isinstance(v, bool):
            raise ConfigError(f"MODEL.{key} must be true or false, got {v!r}")
        geometry[fname] = v if typ is bool else integer(v, f"MODEL.{key}")
    choices = {k: ss.get(k, [sup[k]]) for k in _SUPER_KEYS}
    return SearchSpace(
        embed_dim=tuple(integers(choices["EMBED_DIM"], "SEARCH_SPACE.EMBED_DIM", scalar_ok=True)),
        depth=tuple(integers(choices["DEPTH"], "SEARCH_SPACE.DEPTH", scalar_ok=True)),
        mlp_ratio=tuple(numbers_(choices["MLP_RATIO"], "SEARCH_SPACE.MLP_RATIO", scalar_ok=True)),
        num_heads=tuple(integers(choices["NUM_HEADS"], "SEARCH_SPACE.NUM_HEADS", scalar_ok=True)),
        super_embed_dim=integer(sup["EMBED_DIM"], "SUPERNET.EMBED_DIM"),
        super_depth=integer(sup["DEPTH"], "SUPERNET.DEPTH"),
        super_mlp_ratio=number(sup["MLP_RATIO"], "SUPERNET.MLP_RATIO"),
        super_num_heads=integer(sup["NUM_HEADS"], "SUPERNET.NUM_HEADS"),
        name=name,
        **geometry,
    )


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    return {
        "SUPERNET": {
            "MLP_RATIO": space.super_mlp_ratio,
            "NUM_HEADS": space.super_num_heads,
            "EMBED_DIM": space.super_embed_dim,
            "DEPTH": space.super_depth,
        },
        "SEARCH_SPACE": {
            "MLP_RATIO": list(space.mlp_ratio),
            "NUM_HEADS": list(space.num_heads),
            "DEPTH": list(space.depth),
            "EMBED_DIM": list(space.embed_dim),
        },
        "MODEL": {key: getattr(space, fname) for key, (fname, _, _) in MODEL_KEYS.items()},
    }


def load_space_file(path: str | Path) -> SearchSpace:
    data = read_yaml(path)
    with _in_file(path):
        return space_from_dict(data, name=Path(path).stem)


@contextlib.contextmanager
def _in_file(path: str | Path) -> Iterator[None]:
    """Prefix a ConfigError raised while reading ``path`` with the file's name."""
    try:
        yield
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def save_space(space: SearchSpace, path: str | Path) -> None:
    atomic_write_text(path, yaml.safe_dump(space_to_dict(space), sort_keys=False))


def load_subnet(path: str | Path) -> SubnetConfig:
    """A subnet from a file's RETRAIN block (AutoFormer's subnet files, or one hwnas wrote)."""
    data = read_yaml(path)
    if "RETRAIN" not in data:
        raise ConfigError(f"{path} has no RETRAIN block (DEPTH, EMBED_DIM, MLP_RATIO, NUM_HEADS)")
    with _in_file(path):
        return SubnetConfig.from_retrain(data["RETRAIN"])


def save_subnet(cfg: SubnetConfig, path: str | Path, space: SearchSpace | None = None) -> None:
    """Write the RETRAIN block; with ``space``, also its SUPERNET/SEARCH_SPACE/MODEL blocks."""
    data = space_to_dict(space) if space is not None else {}
    data["RETRAIN"] = cfg.to_retrain()
    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
