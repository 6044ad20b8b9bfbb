"""A subnet on its own: its weights in a safetensors file, its architecture in that file's metadata.

:func:`save_standalone` writes what :func:`load_model` reads back as a plain ``nn.Module`` (a
:class:`StaticViT`): the module is rebuilt from the metadata (space geometry and subnet config) and
filled with the tensors, so nothing is unpickled and no supernet or training code is involved. A
``.pt2`` torch.export program (:mod:`.export_torch`) loads too, as torch's own module.

Metadata (all strings, as safetensors stores them): ``format`` (:data:`FORMAT`), ``hwnas_version``,
``subnet`` (the key), ``config`` (JSON), ``space`` (JSON of the space's YAML blocks), ``space_name``,
``space_digest``, ``data`` (what the weights were trained on, '' if unknown).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hwnas
from hwnas.core.atomic import atomic_write
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import space_from_dict, space_to_dict
from hwnas.supernet.layers import RelativePosition2D
from hwnas.supernet.vit import Attention, Block, PatchEmbed, StaticViT

FORMAT = "hwnas-subnet"
SUFFIX = ".safetensors"


def build_static(space: SearchSpace, cfg: SubnetConfig) -> StaticViT:
    """An untrained :class:`StaticViT` of ``cfg`` with the shapes :meth:`Supernet.extract` gives it."""
    space.check_fits(cfg)
    E, hd, npatch = cfg.embed_dim, space.head_dim, space.num_patches
    blocks = []
    for i in range(cfg.depth):
        qd, hidden = cfg.num_heads[i] * hd, cfg.mlp_hidden(i)
        rel = (
            (
                RelativePosition2D(hd, space.max_relative_position, npatch),
                RelativePosition2D(hd, space.max_relative_position, npatch),
            )
            if space.relative_position
            else (None, None)
        )
        attn = Attention(nn.Linear(E, 3 * qd, bias=space.qkv_bias), nn.Linear(qd, E), cfg.num_heads[i], hd, *rel)
        blocks.append(
            Block(
                attn, nn.LayerNorm(E, eps=1e-5), nn.LayerNorm(E, eps=1e-5), nn.Linear(E, hidden), nn.Linear(hidden, E)
            )
        )
    return StaticViT(
        space,
        cfg,
        PatchEmbed(nn.Conv2d(space.in_chans, E, kernel_size=space.patch_size, stride=space.patch_size)),
        torch.zeros(1, 1, E),
        torch.zeros(1, npatch + 1, E),
        blocks,
        nn.LayerNorm(E, eps=1e-5),
        nn.Linear(E, space.num_classes),
    )


def metadata(model: StaticViT, data: str | None = None) -> dict[str, str]:
    """What :func:`save_standalone` stores beside the weights."""
    return {
        "format": FORMAT,
        "hwnas_version": hwnas.__version__,
        "subnet": model.config.key(),
        "config": json.dumps(model.config.to_dict()),
        "space": json.dumps(space_to_dict(model.space)),
        "space_name": model.space.name,
        "space_digest": model.space.digest(),
        "data": data or "",
    }


def save_standalone(model: StaticViT, path: str | Path, data: str | None = None) -> Path:
    """Write ``model``'s weights and architecture as one safetensors file, atomically."""
    from safetensors.torch import save

    if not isinstance(model, StaticViT):
        raise TypeError("save the static subnet (Supernet.extract(cfg)), never the supernet itself")
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    blob = save(tensors, metadata=metadata(model, data))
    return atomic_write(path, lambda f: f.write(blob))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The hwnas metadata of a safetensors file; ConfigError for any other file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no model file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors' errors share no base class worth naming
        raise ConfigError(f"{path} is not a safetensors file ({_first_line(e)})") from None
    if meta.get("format") != FORMAT:
        raise ConfigError(
            f"{path} is a safetensors file without hwnas metadata (no architecture to rebuild): "
            "write it with 'hwnas export --format safetensors'"
        )
    return dict(meta)


def architecture(meta: dict[str, str], source: str | Path = "model file") -> tuple[SearchSpace, SubnetConfig]:
    """The space and subnet recorded in a model file's metadata (checked)."""
    try:
        space = space_from_dict(json.loads(meta["space"]), name=meta.get("space_name", "custom"))
        cfg = SubnetConfig.from_dict(json.loads(meta["config"]))
    except (KeyError, json.JSONDecodeError, TypeError) as e:
        raise ConfigError(f"{source}: malformed hwnas metadata ({type(e).__name__}: {e})") from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    if meta.get("space_digest") and meta["space_digest"] != space.digest():
        raise ConfigError(f"{source}: its space does not match its recorded digest (the metadata was edited?)")
    space.check_fits(cfg)
    return space, cfg


def load_standalone(path: str | Path) -> StaticViT:
    """The :class:`StaticViT` a safetensors file written by :func:`save_standalone` holds, in eval mode."""
    from safetensors.torch import load_file

    meta = read_metadata(path)
    space, cfg = architecture(meta, path)
    model = build_static(space, cfg)
    tensors = load_file(str(path))
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        first = (missing or unexpected or wrong)[0]
        raise ConfigError(f"{path}: its tensors do not fit subnet {cfg.key()} (e.g. {first})")
    model.load_state_dict(tensors)
    return model.eval()


def load_model(path: str | Path) -> nn.Module:
    """A model file written by ``hwnas export`` as an ``nn.Module`` in eval mode: a ``.safetensors``
    subnet (a :class:`StaticViT`), or a ``.pt2`` torch.export program (torch's module for it)."""
    path = Path(path)
    if path.suffix == ".pt2":
        from hwnas.supernet.export_torch import load_program, program_meta

        if not path.is_file():
            raise NotFoundError(f"no model file at {path}")
        if not program_meta(path).get("hwnas_version"):
            raise ConfigError(f"{path} is a torch.export program without hwnas metadata")
        return load_program(path).module()
    if path.suffix == ".onnx":
        raise ConfigError(f"{path} is an ONNX model: run it with ONNX Runtime, or export --format safetensors")
    return load_standalone(path)


def describe(meta: dict[str, Any]) -> str:
    """One line about a model file's metadata."""
    return f"{meta.get('subnet')} of space {meta.get('space_name')} (hwnas {meta.get('hwnas_version')})"


def _first_line(e: BaseException) -> str:
    return next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)[:200]
