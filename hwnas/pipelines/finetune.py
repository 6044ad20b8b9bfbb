"""Fine-tuning: one subnet trained further from the weights it inherits from the supernet.

It is supernet training's strategy ``single`` (:mod:`hwnas.supernet.train`) started from the trained
supernet's weights (``TrainConfig.init``) rather than a seeded initialisation, so it shares that code's
resumable checkpoints, progress, torchrun support and teacher; teacher 'largest' is the starting
supernet's largest subnet, frozen. When the schedule is complete, the subnet is compared with its
inherited self image by image on the test split (paired), and the fine-tuned subnet is written as a
standalone safetensors file with its model card.

The folder (``--out``) holds finetune.pt (the resumable training checkpoint: a whole supernet, of which
only this subnet's slice was trained), and at the end model.safetensors, finetune.json and MODEL.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hwnas.core.atomic import atomic_write_text
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.publish import check_writable
from hwnas.core.resolve import BOUNDS, resolve_subnet, space_of_subnet_file
from hwnas.core.space import SearchSpace

CHECKPOINT_FILE, MODEL_FILE, RESULT_FILE = "finetune.pt", "model.safetensors", "finetune.json"
# The default recipe, chosen by benchmarks/finetune_recipe.py on the bundled data (lr 1e-4 against 3e-4
# over 250 steps from a winner's inherited weights, paired on the 500 test images).
DEFAULT_LR, DEFAULT_EPOCHS, DEFAULT_WARMUP_EPOCHS = 3e-4, 2, 0.1
TEACHERS = ("none", "largest", "cnn")


@dataclass
class Comparison:
    """The subnet before and after fine-tuning on the same test images (top-1 in percent)."""

    images: int
    inherited_top1: float
    finetuned_top1: float
    diff: float  # fine-tuned - inherited, points
    diff_ci_low: float
    diff_ci_high: float
    p_value: float  # exact McNemar


@dataclass
class FinetuneResult:
    folder: str
    key: str
    space: str
    step: int
    total_steps: int
    train_seconds: float  # all of the runs that made the checkpoint (resumes included)
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    comparison: Comparison | None = None  # None until the schedule is complete
    files: dict[str, str] = field(default_factory=dict)
    rank: int = 0  # this process's under torchrun (only rank 0 compares and writes)

    @property
    def done(self) -> bool:
        return self.step >= self.total_steps

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "done": self.done}


def resolve_target(
    checkpoint: str | Path, subnet: str, space: str | None = None
) -> tuple[SearchSpace, SubnetConfig, Path | None]:
    """The checkpoint's space, the subnet (a YAML file, 'max', 'min' or a key) checked against it, and the
    search report beside the subnet's YAML if there is one. A subnet saved with another space is refused."""
    from hwnas.core import presets
    from hwnas.supernet.resolve import checkpoint_space

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise NotFoundError(f"no supernet checkpoint at {checkpoint} (train one with 'hwnas train')")
    stored = checkpoint_space(checkpoint)
    given = presets.get(space) if space else None
    if stored is None and given is None:
        raise ConfigError(f"{checkpoint} is an AutoFormer checkpoint: pass its search space (--space)")
    if stored is not None and given is not None and stored.digest() != given.digest():
        raise ConfigError(f"{checkpoint} holds a supernet of space {stored.name!r}, not of {given.name!r}")
    the_space = stored or given
    assert the_space is not None
    is_file = subnet not in BOUNDS and Path(subnet).is_file()
    own = space_of_subnet_file(subnet) if is_file else None
    if own is not None and own.digest() != the_space.digest():
        raise ConfigError(
            f"{subnet} is a subnet of another search space (digest {own.digest()}) than the checkpoint's "
            f"{the_space.name!r} ({the_space.digest()}): fine-tune it from its own supernet"
        )
    if is_file or subnet in BOUNDS:
        cfg = resolve_subnet(the_space, subnet)
    elif subnet.startswith("e") and "-d" in subnet:
        cfg = the_space.validate(SubnetConfig.from_key(subnet))
    else:
        raise NotFoundError(f"no such subnet file: {subnet} (a RETRAIN YAML, 'max', 'min' or a subnet key)")
    report = Path(subnet).parent / "report.json" if is_file else None
    return the_space, cfg, report if report is not None and report.is_file() else None


def finetune(
    checkpoint: str | Path,
    subnet: str,
    out: str | Path,
    recipe: dict[str, Any] | None = None,
    *,
    space: str | None = None,
    data: str = "mnist",
    resume: bool = False,
    overwrite: bool = False,
    max_steps: int | None = None,
    on_step: Any = None,
    on_epoch: Any = None,
) -> FinetuneResult:
    """Fine-tune ``subnet`` of the supernet ``checkpoint`` into the folder ``out``. ``recipe``: TrainConfig
    fields over the fine-tune defaults. Returns rank 0's result (on other ranks, without the comparison)."""
    from hwnas.supernet.train import TrainConfig, train_supernet

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; name a folder for the fine-tune")
    check_writable(out)  # a read-only folder is refused now, not after the training
    the_space, cfg, report = resolve_target(checkpoint, subnet, space)
    defaults: dict[str, Any] = {
        "lr": DEFAULT_LR,
        "epochs": DEFAULT_EPOCHS,
        "warmup_epochs": DEFAULT_WARMUP_EPOCHS,
    }
    given = {**defaults, **(recipe or {})}
    train_cfg = TrainConfig(**given, strategy="single", subnet=cfg.key(), init=str(Path(checkpoint).resolve()))
    ckpt = out / CHECKPOINT_FILE
    r = train_supernet(
        the_space,
        data,
        ckpt,
        train_cfg,
        resume=resume,
        overwrite=overwrite,
        max_steps=max_steps,
        on_step=on_step,
        on_epoch=on_epoch,
    )
    result = FinetuneResult(
        folder=str(out),
        key=cfg.key(),
        space=the_space.name,
        step=r.step,
        total_steps=r.total_steps,
        train_seconds=round(sum(h.get("train_seconds", 0.0) for h in r.history), 3),
        config=asdict(r.config),
        history=r.history,
        files={"checkpoint": str(ckpt)},
        rank=r.rank,
    )
    if r.rank != 0 or not result.done:
        return result
    return _finish(result, the_space, cfg, Path(result.config["init"]), ckpt, data, report)


def _finish(
    result: FinetuneResult,
    space: SearchSpace,
    cfg: SubnetConfig,
    init: Path,
    ckpt: Path,
    data: str,
    report: Path | None,
) -> FinetuneResult:
    """Compare with the inherited weights (paired, test split), write the model, the result and the card."""
    from hwnas.pipelines.fitness import InheritedAccuracy
    from hwnas.search.significance import mcnemar_p, paired_difference
    from hwnas.supernet.checkpoint import load_supernet
    from hwnas.supernet.standalone import save_standalone

    out = Path(result.folder)
    if not init.is_file():
        raise NotFoundError(f"the fine-tune started from {init}, which is gone: no inherited accuracy to compare")
    before = InheritedAccuracy(space, init, data, precision="fp32").hits(cfg, "test")
    after = InheritedAccuracy(space, ckpt, data, precision="fp32").hits(cfg, "test")
    d, lo, hi = paired_difference(after, before)
    result.comparison = Comparison(
        images=int(before.size),
        inherited_top1=100.0 * float(before.mean()),
        finetuned_top1=100.0 * float(after.mean()),
        diff=d,
        diff_ci_low=lo,
        diff_ci_high=hi,
        p_value=mcnemar_p(after, before),
    )
    net, _ = load_supernet(ckpt, space)
    model = save_standalone(net.extract(cfg).eval(), out / MODEL_FILE, data=data)
    result.files.update(model=str(model), result=str(out / RESULT_FILE), card=str(out / "MODEL.md"))
    atomic_write_text(out / RESULT_FILE, json.dumps(result.to_dict(), indent=2) + "\n")
    _card(result, space, cfg, init, data, report)
    return result


def _card(
    result: FinetuneResult, space: SearchSpace, cfg: SubnetConfig, init: Path, data: str, report: Path | None
) -> Path:
    from dataclasses import replace

    from hwnas.pipelines.model_card import AccuracyRow, CardInputs, read_report, search_inputs, write_card

    c = result.comparison
    assert c is not None
    files = [MODEL_FILE, RESULT_FILE, CHECKPOINT_FILE]
    found = read_report(report, cfg, space) if report is not None else None
    if found is not None:
        space = replace(space, name=found["space"])
        inputs = search_inputs(found, space, data, files, report.parent.parent if report else init.parent)
    else:
        inputs = CardInputs(data=data, files=files)
    rc = result.config
    inputs.weights = (
        f"inherited from the supernet {init.name}, then fine-tuned for {result.total_steps} steps "
        f"({rc['epochs']} epochs, lr {rc['lr']:g}, batch {rc['batch_size']}, teacher {rc['teacher']})"
    )
    inputs.accuracy = [
        AccuracyRow("inherited (before fine-tuning)", "test", c.images, c.inherited_top1),
        AccuracyRow("fine-tuned", "test", c.images, c.finetuned_top1),
    ]
    inputs.notes = [
        "## Fine-tuning\n\n"
        f"Fine-tuned - inherited on the same {c.images} test images: {c.diff:+.2f} points "
        f"(95 % interval {c.diff_ci_low:+.2f} to {c.diff_ci_high:+.2f}; exact McNemar p = {c.p_value:.3g}), "
        f"after {result.train_seconds:.0f} s of training on {data}. Latency is unchanged: the architecture is."
    ]
    return write_card(result.folder, space, cfg, inputs)
