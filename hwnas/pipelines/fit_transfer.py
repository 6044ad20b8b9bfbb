"""Fit from a few measurements by transfer: the target (device, space) borrows the layer-level cost model
of another (device, space) that this host measured, from any store given (:mod:`hwnas.predictors.transfer`).

Every (device, space, host) group of the stores is a candidate source. A group measured on another
machine (CPU model, cores, GPU) or in a space whose layers compute other operations (relative position,
qkv bias, pooling) is skipped with one line saying why; nothing is mixed silently. Each remaining source
is adapted to the target's labels and the one whose adapted model predicts the target's labels best by
leave-one-out is used: the fit reports it, its labels, the target's labels and the cross-validated figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from hwnas.core import presets
from hwnas.core.config import SubnetConfig
from hwnas.core.errors import ConfigError, HwnasError, NotFoundError, UnknownNameError
from hwnas.core.space import SearchSpace
from hwnas.pipelines.fit import MIN_RECORDS
from hwnas.predictors import LatencyPredictor, save_predictor
from hwnas.predictors.metrics import json_safe
from hwnas.predictors.predictor import summary_metrics
from hwnas.predictors.transfer import Adapted, Prior, adapt, as_additive, cost_terms, cross_validate, fit_source
from hwnas.profiling.labels import labels_of

MIN_SOURCE = 10  # labels a source group needs to be fitted
MIN_TARGET = 3  # target labels a transfer needs (leave-one-out on fewer says nothing)
# What the per-layer features do not capture. head_dim is not among them: it enters the features through
# the qkv, attention and projection MACs (heads x head_dim wide), so a mnist-cpu source (head_dim 32) can
# serve autoformer-tiny (64); the adaptation's per-term deviations take up how well each width runs.
STRUCTURE = ("relative_position", "qkv_bias", "global_pool")


class NoSourceError(HwnasError, ValueError):
    """No store holds a usable transfer source for the target."""


@dataclass
class Group:
    """The labels of one (device, space, host) of one store."""

    origin: str
    device: str
    space: SearchSpace
    host_id: str
    machine: dict[str, str]
    configs: list[SubnetConfig]
    latency_ms: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.device} / {self.space.name}"

    def describe(self) -> str:
        return f"{self.name} (host {self.host_id}, {len(self.configs)} subnets, {self.origin})"


def machine_of(fingerprint: str | dict[str, Any]) -> dict[str, str]:
    """The machine a fingerprint names: all but the runtime and an agent's name."""
    try:
        fp = json.loads(fingerprint) if isinstance(fingerprint, str) else dict(fingerprint)
    except ValueError:
        return {"unknown": str(fingerprint)}
    return {k: str(v) for k, v in fp.items() if k not in ("runtime", "name")}


def _space_named(name: str, digest: str, target: SearchSpace) -> SearchSpace | None:
    if digest == target.digest():
        return target
    try:
        space = presets.get(name)
    except UnknownNameError:
        return None
    return space if space.digest() == digest else None


def read_groups(path: str | Path, target: SearchSpace, skipped: list[str]) -> list[Group]:
    """Every (device, space, host) of the store at ``path`` with its labels; groups whose space is
    unknown here are skipped with a line in ``skipped``."""
    from hwnas.profiling.store import LatencyStore

    if not Path(path).is_file():
        raise NotFoundError(f"no latency store at {path}")
    with LatencyStore(path, read_only=True) as store:
        df = store.to_dataframe()
    df = df[df["status"] == "ok"]
    out = []
    for (device, digest, host), g in df.groupby(["device", "space_digest", "host_id"], sort=True):
        space = _space_named(str(g["space"].iloc[0]), str(digest), target)
        if space is None:
            skipped.append(f"skipped {device} / {g['space'].iloc[0]} in {path}: its space is not known here")
            continue
        lab = labels_of(g)
        out.append(
            Group(
                str(path),
                str(device),
                space,
                str(host),
                machine_of(str(g["fingerprint"].iloc[0] or "{}")),
                [SubnetConfig.from_key(k) for k in lab["key"]],
                lab["latency_ms"].to_numpy(np.float64),
            )
        )
    return out


def why_not(source: Group, target: Group, any_host: bool) -> str | None:
    """Why ``source`` cannot be the target's source (one line), or None."""
    if source.device == target.device and source.space.digest() == target.space.digest():
        return "the same device and space as the target (more labels of it, not a source)"
    if not any_host and source.machine != target.machine:
        return (
            f"measured on another machine ({', '.join(source.machine.values())}, not "
            f"{', '.join(target.machine.values())}): latencies of two hosts are never mixed (--any-host allows it)"
        )
    differ = [k for k in STRUCTURE if getattr(source.space, k) != getattr(target.space, k)]
    if differ:
        return f"its space's layers differ in {', '.join(differ)}: the per-layer features do not fit the target space"
    if len(source.configs) < MIN_SOURCE:
        return f"only {len(source.configs)} subnets (a source needs {MIN_SOURCE})"
    return None


@dataclass
class Candidate:
    source: Group
    prior: Prior
    adapted: Adapted
    cv_pred: np.ndarray
    cv: dict[str, float]


@dataclass
class TransferResult:
    """A predictor fitted by transfer, with what it came from and how well it predicts held-out labels."""

    predictor: LatencyPredictor
    target: Group
    chosen: Candidate
    candidates: list[Candidate]
    skipped: list[str] = field(default_factory=list)
    path: Path | None = None

    def report(self) -> dict[str, Any]:
        c, src = self.chosen, self.chosen.source
        return {
            "method": "transfer",
            "source": {"device": src.device, "space": src.space.name, "host_id": src.host_id, "store": src.origin},
            "source_labels": len(src.configs),
            "target_labels": len(self.target.configs),
            "scale": c.adapted.scale,
            "ridge": c.adapted.lam,
            "cv": c.cv,
            "candidates": [
                {"source": k.source.describe(), "cv_mape": k.cv["mape"], "cv_within_5": k.cv["within_5"]}
                for k in self.candidates
            ],
            "skipped": self.skipped,
        }

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-safe data (what ``hwnas fit --json`` prints)."""
        return json_safe({"chosen": "additive (transferred)", "path": str(self.path), **self.report()})


def transfer_candidates(target: Group, sources: Sequence[Group], any_host: bool, skipped: list[str]) -> list[Candidate]:
    """Each usable source adapted to the target's labels and cross-validated there (best first)."""
    X = cost_terms(target.space, target.configs)
    out = []
    for s in sources:
        if (
            s.name == target.name
            and s.host_id == target.host_id
            and Path(s.origin).resolve() == Path(target.origin).resolve()
        ):
            continue  # the target itself
        why = why_not(s, target, any_host)
        if why:
            skipped.append(f"skipped source {s.describe()}: {why}")
            continue
        prior = Prior.of(fit_source(s.space, s.configs, s.latency_ms), target.space)
        pred, cv = cross_validate(prior, X, target.latency_ms)
        out.append(Candidate(s, prior, adapt(prior, X, target.latency_ms), pred, cv))
    return sorted(out, key=lambda c: (c.cv["mape"], -len(c.source.configs)))


def fit_transfer(
    target: Group, sources: Sequence[Group], *, any_host: bool = False, seed: int = 0, skipped: list[str] | None = None
) -> TransferResult:
    """The target's predictor adapted from its best source (see the module's docstring)."""
    skipped = list(skipped or [])
    n = len(target.configs)
    if n < MIN_TARGET:
        raise ConfigError(
            f"{n} measured subnets of {target.name}: a transfer needs at least {MIN_TARGET} "
            f"('hwnas profile --device {target.device} --space {target.space.name} -n auto')"
        )
    cands = transfer_candidates(target, sources, any_host, skipped)
    if not cands:
        raise NoSourceError(
            f"{n} measured subnets of {target.name}, too few for a fit from scratch ({MIN_RECORDS}), and "
            f"no transfer source for it in the stores given"
            + (f" ({'; '.join(skipped)})" if skipped else "")
            + ": measure a source (e.g. 'hwnas profile --device cpu -n 60') or pass one with --from FILE"
        )
    best = cands[0]
    pred = LatencyPredictor(target.space, device=target.device, family="additive", seed=seed)
    pred.model_ = as_additive(target.space, best.adapted.weights, n)
    pred.family_, pred.n_train_ = "additive", n
    pred.metrics_ = summary_metrics(best.cv, best.cv, n)
    return TransferResult(pred, target, best, cands, skipped)


def target_group(df: pd.DataFrame, device: str, space: SearchSpace, origin: str) -> Group:
    """The target's labels from one host's ok records (``df``: :func:`hwnas.pipelines.fit.read_records`)."""
    if not len(df):
        return Group(origin, device, space, "", {}, [], np.zeros(0))
    lab = labels_of(df)
    return Group(
        origin,
        device,
        space,
        str(df["host_id"].iloc[0]),
        machine_of(str(df["fingerprint"].iloc[0] or "{}")),
        [SubnetConfig.from_key(k) for k in lab["key"]],
        lab["latency_ms"].to_numpy(np.float64),
    )


def save(res: TransferResult, out: str | Path) -> Path:
    res.path = save_predictor(res.predictor, out, extra={"transfer": json_safe(res.report())})
    return res.path


def stores_of(db: str | Path, run_folder: str | Path | None, extra: Sequence[str | Path] = ()) -> list[Path]:
    """The target's store, every other ``*.db`` store of the run folder, then ``extra`` (--from), once each."""
    paths = [Path(db)]
    if run_folder is not None and Path(run_folder).is_dir():
        paths += sorted(p for p in Path(run_folder).glob("*.db") if p.is_file())
    for p in extra:
        if not Path(p).is_file():
            raise NotFoundError(f"no latency store at {p} (--from names a latency.db made by 'hwnas profile')")
        paths.append(Path(p))
    out: list[Path] = []
    for p in paths:
        if p.is_file() and all(p.resolve() != q.resolve() for q in out):
            out.append(p)
    return out


def transfer_device(
    space: SearchSpace,
    device: str,
    target_df: pd.DataFrame,
    db: str | Path,
    stores: Sequence[Path],
    out: str | Path | None,
    *,
    any_host: bool = False,
    seed: int = 0,
) -> TransferResult:
    """`hwnas fit` with too few labels for a fit from scratch: transfer from the stores' best source."""
    target = target_group(target_df, device, space, str(db))
    skipped: list[str] = []
    groups = [g for p in stores for g in read_groups(p, space, skipped)]
    res = fit_transfer(target, groups, any_host=any_host, seed=seed, skipped=skipped)
    if out is not None:
        save(res, out)
    return res


def render(res: TransferResult) -> str:
    """The transfer for people: from what, with how many labels, the held-out figures, what was skipped."""
    src, cv, t = res.chosen.source, res.chosen.cv, res.target
    lines = [
        f"{t.name}: {len(t.configs)} measured subnets, too few for a fit from scratch: transferred",
        f"from {src.describe()}: layer-level cost model, global scale {res.chosen.adapted.scale:.3f}, "
        f"per-term ridge {res.chosen.adapted.lam:.3g} (chosen by leave-one-out)",
        f"cross-validated on the {len(t.configs)} target subnets (leave-one-out): MAPE {cv['mape']:.1%}, "
        f"within ±5 % {cv['within_5']:.0%}, within ±10 % {cv['within_10']:.0%}, p95 error {cv['p95_rel_err']:.1%}, "
        f"tau {cv['kendall_tau']:.3f}",
    ]
    if len(res.candidates) > 1:
        lines.append(
            "other sources: "
            + "; ".join(f"{c.source.describe()}: CV MAPE {c.cv['mape']:.1%}" for c in res.candidates[1:])
        )
    lines += res.skipped
    if res.path is not None:
        lines.append(f"saved {res.path}")
    return "\n".join(lines)
