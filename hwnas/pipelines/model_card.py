"""MODEL.md, the model card beside every search winner, export and fine-tune: what someone who receives
only the model file needs to trust it. Architecture, parameters and MACs, accuracy with its 95 % interval,
latency per device as measured (protocol and host), the budget, the search settings, the hwnas version.

Built from a search's report.json when there is one (every figure on the card is the report's; only the
intervals are computed from its top-1 and image counts), else from what the caller knows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hwnas
from hwnas.core.atomic import atomic_write_text
from hwnas.core.complexity import count_macs, count_params
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, HwnasError
from hwnas.core.space import SearchSpace
from hwnas.present import markdown_table

if TYPE_CHECKING:
    from hwnas.devices import Devices

CARD_FILE = "MODEL.md"
REPORT_FILE = "report.json"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class AccuracyRow:
    """One top-1 figure on ``images`` images of ``split``, with what the weights were."""

    weights: str
    split: str
    images: int | None
    top1: float | None

    def interval(self) -> tuple[float, float] | None:
        """The 95 % Wilson interval of top-1 (percent), None without the image count."""
        if self.top1 is None or not self.images:
            return None
        n, p = self.images, self.top1 / 100.0
        centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
        half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / (1 + Z95**2 / n)
        return 100.0 * max(0.0, centre - half), 100.0 * min(1.0, centre + half)


@dataclass
class CardInputs:
    """What a card says beyond the architecture; ``report`` is a search's report.json (or None)."""

    report: dict[str, Any] | None = None
    weights: str = "random initialisation (no checkpoint): for latency work only"
    data: str | None = None
    accuracy: list[AccuracyRow] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # extra paragraphs (e.g. a fine-tune's comparison)
    store: Path | None = None  # the latency store whose records name the measuring host
    devices: Devices | None = None  # where the device names are defined (None: the default devices file)


def read_report(path: str | Path, cfg: SubnetConfig, space: SearchSpace) -> dict[str, Any] | None:
    """report.json at ``path`` if it is a search's whose winner is ``cfg`` in ``space``, else None."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    winner = report.get("winner") if isinstance(report, dict) else None
    if not isinstance(winner, dict) or winner.get("key") != cfg.key():
        return None
    return report if report.get("space_digest") == space.digest() else None


def report_accuracy(report: dict[str, Any], test_images: int | None) -> list[AccuracyRow]:
    """The winner's validation and test top-1 as the report states them."""
    w = report["winner"]
    val_images = report.get("accuracy", {}).get("images") or report.get("subset")
    return [
        AccuracyRow("inherited from the supernet", "val", val_images, w.get("val_top1")),
        AccuracyRow("inherited from the supernet", "test", test_images, w.get("test_top1")),
    ]


def split_size(data: str | None, split: str, space: SearchSpace) -> int | None:
    """Images in ``split`` of ``data`` (None when the data is unknown or cannot be read here)."""
    if not data:
        return None
    try:
        from hwnas.data import load_split

        return len(load_split(data, split, space))  # type: ignore[arg-type]  # every split has a length
    except (HwnasError, OSError):
        return None


def render(space: SearchSpace, cfg: SubnetConfig, inputs: CardInputs) -> str:
    """The card as Markdown."""
    report = inputs.report
    params, macs = count_params(space, cfg), count_macs(space, cfg)
    if report is not None:  # the report's own figures (the same counts)
        params, macs = int(report["winner"]["params"]), int(report["winner"]["macs"])
    lines = [
        f"# Model card: `{cfg.key()}`",
        "",
        f"A Vision Transformer subnet of the weight-entangled supernet of space `{space.name}` "
        f"(digest `{space.digest()}`), found and written by hwnas {hwnas.__version__}.",
        "",
        "## Architecture",
        "",
        f"- embed dim {cfg.embed_dim}, depth {cfg.depth}, MLP ratios {list(cfg.mlp_ratio)}, "
        f"heads {list(cfg.num_heads)} (head dim {space.head_dim})",
        f"- input {space.in_chans} x {space.img_size} x {space.img_size}, patch {space.patch_size}, "
        f"{space.num_classes} classes; relative position {'on' if space.relative_position else 'off'}, "
        f"{'mean of the patch tokens' if space.global_pool else 'class token'} pooled",
        f"- parameters {params:,} ({params / 1e6:.3f} M), MACs {macs:,} ({macs / 1e6:.1f} M) per image",
        f"- weights: {inputs.weights}",
        f"- input preprocessing: {_preprocessing(inputs.data, space)}",
        "",
    ]
    lines += _accuracy(inputs.accuracy)
    if report is not None:
        lines += _latency(report, inputs.store, space, inputs.devices)
        lines += _search(report)
    else:
        lines += ["## Latency", "", "Not measured with this file (no search report for this subnet).", ""]
    lines += [*(p + "\n" for p in inputs.notes)]
    if inputs.files:
        lines += ["## Files", "", *(f"- `{f}`" for f in inputs.files), ""]
    model_file = next((f for f in inputs.files if f.endswith((".safetensors", ".pt2"))), None)
    lines += ["## Loading", ""]
    if model_file:
        lines += [
            "```python",
            "import hwnas",
            f'model = hwnas.load_model("{model_file}")  # an nn.Module in eval mode; nothing is unpickled',
            "```",
        ]
    else:
        lines.append("For PyTorch: `hwnas export --format safetensors`, then `hwnas.load_model(FILE)`.")
    lines += [
        "",
        f"hwnas {hwnas.__version__}",
    ]
    return "\n".join(lines) + "\n"


def write_card(folder: str | Path, space: SearchSpace, cfg: SubnetConfig, inputs: CardInputs) -> Path:
    """MODEL.md in ``folder``, written atomically."""
    return atomic_write_text(Path(folder) / CARD_FILE, render(space, cfg, inputs))


def write_search_card(folder: str | Path, data: str | None = None, devices: Devices | None = None) -> Path | None:
    """The card of the winner a search wrote to ``folder`` (its winner.yaml and report.json), built from
    the report; a stale card is removed when the search found no winner."""
    from hwnas.core.resolve import space_of_subnet_file
    from hwnas.core.yaml_io import load_subnet

    folder = Path(folder)
    winner_yaml = folder / "winner.yaml"
    if not winner_yaml.is_file():
        (folder / CARD_FILE).unlink(missing_ok=True)
        return None
    space, cfg = space_of_subnet_file(str(winner_yaml)), load_subnet(winner_yaml)
    if space is None:
        raise ConfigError(f"{winner_yaml} holds no search space")
    report = read_report(folder / REPORT_FILE, cfg, space)
    if report is not None:
        space = replace(space, name=report["space"])  # the YAML file names it after itself
    files = sorted(p.name for p in folder.iterdir() if p.name.startswith("winner."))
    inputs = search_inputs(report, space, data, files, folder.parent)
    return write_card(folder, space, cfg, replace(inputs, devices=devices))


def search_inputs(
    report: dict[str, Any] | None, space: SearchSpace, data: str | None, files: list[str], run_root: Path
) -> CardInputs:
    """A card's inputs from a search report (the weights it scored, its accuracy, the run's store)."""
    inputs = CardInputs(report=report, data=data, files=files, store=run_root / "latency.db")
    if report is not None:
        inputs.weights = "inherited from the trained supernet, not retrained"
        if report.get("objective") == "accuracy":
            inputs.accuracy = report_accuracy(report, split_size(data, "test", space))
    return inputs


# --- sections ---------------------------------------------------------------------------------------
def _preprocessing(data: str | None, space: SearchSpace) -> str:
    from hwnas.data.transforms import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD

    if data == "mnist":
        return "the bundled MNIST: pixels / 255, then (x - 0.1307) / 0.3081"
    mean, std = (GRAY_MEAN, GRAY_STD) if space.in_chans == 1 else (IMAGENET_MEAN, IMAGENET_STD)
    where = f"the image folder {data}" if data else "image folders (the training data is not recorded)"
    return f"{where}: resized to {space.img_size} px, pixels / 255, then (x - {mean}) / {std} per channel"


def _accuracy(rows: list[AccuracyRow]) -> list[str]:
    if not rows:
        return ["## Accuracy", "", "Not measured for this file (no search report, no fine-tune).", ""]
    table = []
    for r in rows:
        ci = r.interval()
        table.append(
            {
                "weights": r.weights,
                "split": r.split,
                "images": r.images if r.images else "?",
                "top-1": "-" if r.top1 is None else f"{r.top1:.2f} %",
                "95 % interval": "-" if ci is None else f"{ci[0]:.1f} - {ci[1]:.1f} %",
            }
        )
    return [
        "## Accuracy",
        "",
        markdown_table(table, ["weights", "split", "images", "top-1", "95 % interval"]),
        "",
        "Intervals: Wilson score intervals over the images (sampling noise of the split; training noise comes on top).",
        "",
    ]


def _latency(report: dict[str, Any], store: Path | None, space: SearchSpace, devices: Devices | None) -> list[str]:
    latency = report["winner"].get("latency") or {}
    if not latency:
        return ["## Latency", "", "No device was budgeted in this search.", ""]
    rows = []
    for device, m in latency.items():
        visits = m.get("visits_ms") or []
        rows.append(
            {
                "device": device,
                "budget ms": _ms(m.get("budget_ms")),
                "predicted ms": _ms(m.get("predicted_ms")),
                "measured ms": _ms(m.get("measured_ms")),
                "visits ms": ", ".join(f"{v:.3f}" for v in visits) or "-",
                "at typical speed ms": _ms(m.get("typical_ms")),
                "within budget": {True: "yes", False: "no", None: "-"}[m.get("within_budget")],
            }
        )
    lines = ["## Latency", "", markdown_table(rows, list(rows[0])), ""]
    for device in latency:
        lines.append(f"- {device}: {_protocol(device, devices)}; host: {_hosts(store, device, space)}")
    lines += [
        "",
        "Measured: the median of the visits, each visit a separate batch of measurements whose figure is the 10th "
        "percentile of the timed runs after warm-up; 'at typical speed' puts each visit at the host's remembered "
        "quiet speed. Predicted: the device's latency predictor. The budget is judged on the typical-speed figure "
        "where there is one, else on the measured one.",
        "",
    ]
    return lines


def _search(report: dict[str, Any]) -> list[str]:
    settings = ", ".join(f"{k} {v}" for k, v in (report.get("settings") or {}).items())
    budgets = "; ".join(report.get("constraints") or []) or "none"
    subset = report.get("subset")
    return [
        "## Search",
        "",
        f"- objective: {report.get('objective')} ({report.get('objective_note', '')})",
        f"- budget: {budgets}",
        f"- evolution: seed {report.get('seed')}, {settings}; {report.get('evaluated')} candidates scored"
        + (f" on {subset} validation images" if subset else "")
        + (f" ({report['precision']} scores)" if report.get("precision") else ""),
        f"- verification: {report.get('verification_note', '-')}",
        "",
    ]


def _protocol(device: str, devices: Devices | None) -> str:
    try:
        from hwnas.devices import Devices

        d = (devices or Devices.default()).get(device)
    except (HwnasError, ImportError):
        return "device definition not available here"
    return (
        f"{d.runtime}{' (' + d.provider + ')' if d.provider else ''}, {d.precision}, batch {d.batch_size}, "
        f"{d.threads} thread(s), {d.clock} clock, blocks of ~{d.block_ms:g} ms interleaved over rounds"
    )


def _hosts(store: Path | None, device: str, space: SearchSpace) -> str:
    """The hosts (CPU model, agent) that measured ``device`` in the run's latency store."""
    if store is None or not store.is_file():
        return "not recorded"
    try:
        from hwnas.profiling.store import LatencyStore

        with LatencyStore(store, read_only=True) as s:
            df = s.to_dataframe(device, space.digest())
    except (HwnasError, OSError, ImportError):
        return "not recorded"
    seen = sorted({f"{h}{' via agent ' + a if a else ''}" for h, a in zip(df["host"], df["agent"].fillna(""))})
    return "; ".join(seen) or "not recorded"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"
