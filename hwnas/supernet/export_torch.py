"""Export a static subnet as a ``torch.export`` program (``.pt2``): the model file the torch runtime measures.

The file is torch's own archive (``torch.export.save``): the graph as JSON and every weight as raw bytes,
loaded without the Python code that defined the model. ``torch.export.load`` would unpickle what an
archive marks as pickled (tensor subclasses, script objects, sample inputs); these programs hold none of
that (no sample inputs are saved) and :func:`load_program` refuses any archive that does, so loading a
``.pt2`` file never unpickles anything.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch

import hwnas
from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError
from hwnas.supernet.vit import StaticViT

SUFFIX = ".pt2"
META_FILE = "hwnas.json"  # an extra file in the archive: version, subnet key, space


def export_torch(module: StaticViT, path: str | Path, batch_size: int = 1) -> Path:
    """Write ``module`` (a static subnet) as a torch.export program for a fixed ``batch_size``, atomically."""
    if not isinstance(module, StaticViT):
        raise TypeError("export the static subnet (Supernet.extract(cfg)), never the supernet itself")
    space, path = module.space, Path(path)
    was_training = module.training
    module.eval()
    dummy = torch.zeros(batch_size, space.in_chans, space.img_size, space.img_size)
    try:
        with torch.no_grad():
            program = torch.export.export(module, (dummy,))
    finally:
        module.train(was_training)
    program.example_inputs = None  # saved pickled otherwise
    meta = {
        "hwnas_version": hwnas.__version__,
        "subnet_key": module.config.key(),
        "space": space.name,
        "space_digest": space.digest(),
        "batch_size": batch_size,
        "torch_version": torch.__version__,
    }
    atomic_write(path, lambda f: torch.export.save(program, f, extra_files={META_FILE: json.dumps(meta)}))
    return path


def pickled_entries(path: str | Path) -> list[str]:
    """The entries of a ``.pt2`` archive that ``torch.export.load`` would unpickle (should be none)."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{path} is not a torch.export archive ({type(e).__name__})") from None
    found = []
    with archive:
        for info in archive.infolist():
            if "/sample_inputs/" in info.filename and info.file_size:
                found.append(info.filename)
            elif info.filename.endswith("_config.json"):
                config = json.loads(archive.read(info)).get("config", {})
                found += [f"{info.filename}:{k}" for k, v in config.items() if v.get("use_pickle")]
    return found


def load_program(path: str | Path) -> torch.export.ExportedProgram:
    """A ``.pt2`` program (call ``.module()`` to run it); ConfigError if the archive holds anything that
    would be unpickled."""
    pickled = pickled_entries(path)
    if pickled:
        raise ConfigError(f"{path} holds pickled data ({pickled[0]}); hwnas loads only pickle-free programs")
    return torch.export.load(str(path))


def input_shape(program: torch.export.ExportedProgram) -> tuple[int, ...]:
    """The shape of the program's (one) image input, e.g. (1, 3, 224, 224)."""
    user = program.graph_signature.user_inputs
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user[0])
    return tuple(int(d) for d in node.meta["val"].shape)


def program_meta(path: str | Path) -> dict[str, object]:
    """What :func:`export_torch` recorded in the archive (empty for other programs)."""
    with zipfile.ZipFile(path) as archive:
        name = next((n for n in archive.namelist() if n.endswith(f"/extra/{META_FILE}")), None)
        return dict(json.loads(archive.read(name))) if name else {}
