"""From the store's log of measurements to one latency label per subnet, and the store's own noise.

A label belongs to (subnet, device, space, host): measurements of two hosts are never combined, even
when both call their device ``cpu`` (:func:`one_host`). A subnet's label is the **median of its
per-visit figures**, each visit's ``latency_ms`` corrected by the reference ladder measured in the same
batch (:func:`drift_corrected`, :mod:`hwnas.profiling.ladder`). Why: contention moves a whole batch,
references included, but larger subnets more than small ones, so the batch's slowdown is read off
the ladder at the subnet's size; what remains differs between visits taken minutes apart, and the
median of visits is robust to one visit that was still disturbed (with two visits it is their mean,
halving the variance of independent visit errors). The ladder's baseline is the host's remembered
quiet ladder (:mod:`hwnas.profiling.host_memory`) or, without one, the store's typical batch, so a
store measured under load throughout is still rescaled to a quiet machine (:func:`ladder_baseline`).

The same visits give the store's test-retest disagreement (:func:`retest_noise_of`): subnets with two
or more successful visits, relative difference |a - b| / mean(a, b) between their first two visits
(:func:`retest_noise`, the one definition of that figure, also used between two stores).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hwnas.core.errors import ConfigError
from hwnas.profiling.ladder import BASELINE_QUANTILE, corrected


class MixedHostsError(ConfigError):
    """The records of one device come from more than one host and no host was chosen."""


def describe_host(fingerprint: str) -> str:
    """'AMD EPYC, 2 cores, onnxruntime 1.22.0' from a fingerprint's JSON."""
    try:
        fp = json.loads(fingerprint) if fingerprint else {}
    except ValueError:
        return fingerprint
    cores = f"{fp['cores']} cores" if fp.get("cores") else "cores unknown"
    parts = [fp.get("cpu", "?"), cores, fp.get("runtime", "?"), fp.get("gpu", ""), fp.get("driver", "")]
    return ", ".join(p for p in parts if p)


def hosts_of(df: pd.DataFrame) -> pd.DataFrame:
    """One row per host in ``df``: host_id, its description, subnets, measurements (most subnets first)."""
    if not len(df):
        return pd.DataFrame(columns=["host_id", "host", "subnets", "measurements"])
    g = df.groupby("host_id", sort=False)
    out = pd.DataFrame(
        {
            "host": g["fingerprint"].first().map(describe_host),
            "subnets": g["key"].nunique(),
            "measurements": g.size(),
        }
    ).reset_index()
    return out.sort_values(["subnets", "measurements"], ascending=False, kind="stable").reset_index(drop=True)


def one_host(df: pd.DataFrame, host: str | None = None, what: str = "device") -> tuple[pd.DataFrame, str]:
    """The rows of one host and a one-line note ('' when there was only one). ``host``: a host_id (or a
    unique prefix of one); without it, a store holding several hosts is refused (MixedHostsError),
    naming them and ``--host``."""
    hosts = hosts_of(df)
    if host is not None:
        match = hosts[hosts["host_id"].str.startswith(host)]
        if len(match) != 1:
            known = "; ".join(f"{r.host_id} ({r.host}, {r.subnets} subnets)" for r in hosts.itertuples())
            raise ConfigError(f"--host {host} matches {len(match)} hosts of this {what}; known: {known or 'none'}")
        hid = str(match["host_id"].iloc[0])
        rest = hosts[hosts["host_id"] != hid]
        note = "" if rest.empty else f"using host {hid}, leaving out {len(rest)} other host(s) of this {what}"
        return df[df["host_id"] == hid], note
    if len(hosts) <= 1:
        return df, ""
    listing = "; ".join(f"{r.host_id} ({r.host}: {r.subnets} subnets)" for r in hosts.itertuples())
    raise MixedHostsError(
        f"the records of this {what} come from {len(hosts)} hosts, whose latencies are never mixed: {listing}; "
        f"choose one with --host {hosts['host_id'].iloc[0]}"
    )


def _ladders(df: pd.DataFrame, column: str = "refs_ms", rungs: int | None = None) -> np.ndarray | None:
    """Each row's reference-ladder figures (``column``) as an (n, rungs) array (NaN rows where it has none)."""
    if column not in df or not len(df):
        return None
    lists = [json.loads(v) if isinstance(v, str) else (v if isinstance(v, list) else []) for v in df[column]]
    n = rungs or max((len(v) for v in lists), default=0)
    if n < 2:
        return None
    return np.array([[float(x) for x in v] if len(v) == n else [np.nan] * n for v in lists], dtype=float)


def ladder_baseline(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The rungs' baseline that labels are rescaled to, and the host's remembered one (None without).

    The store's own: per rung, the median of its figures over the store's batches (the typical batch).
    Where the records carry the host's remembered quiet baseline (``base_ms``,
    :mod:`hwnas.profiling.host_memory`), that one (the median over the records): a store measured under
    load throughout has no quiet batch of its own."""
    lad = _ladders(df)
    if lad is None:
        return None
    ok = np.isfinite(lad).all(axis=1) & (lad > 0).all(axis=1)
    if not ok.any():
        return None
    visits = df["visit"].to_numpy()[ok] if "visit" in df else np.arange(ok.sum())
    own = pd.DataFrame(lad[ok]).groupby(visits).first().quantile(BASELINE_QUANTILE / 100).to_numpy()
    mem = _ladders(df, "base_ms", lad.shape[1])
    host = None
    if mem is not None and (np.isfinite(mem) & (mem > 0)).all(axis=1).any():
        host = np.nanmedian(np.where(mem > 0, mem, np.nan), axis=0)
    return (own if host is None else host), host


def drift_corrected(df: pd.DataFrame) -> pd.DataFrame:
    """Latencies rescaled to quiet conditions by the references measured in their batch.

    Rows with the reference ladder (``refs_ms``, :mod:`hwnas.profiling.ladder`) are divided by their
    batch's slowdown against :func:`ladder_baseline`, interpolated at their latency. Other rows (older
    stores): ``latency_ms * median(ref) / ref`` with the one reference subnet (``ref_ms``). Slow
    episodes move a whole batch, references included, so this takes them out."""
    out = df
    if "ref_ms" in df and (df["ref_ms"] > 0).any():
        ref = df["ref_ms"].where(df["ref_ms"] > 0)
        out = df.assign(latency_ms=df["latency_ms"] * (ref.median() / ref).fillna(1.0))
    lad, found = _ladders(df), ladder_baseline(df)
    if lad is None or found is None:
        return out
    base = [float(v) for v in found[0]]
    has = np.isfinite(lad).all(axis=1) & (lad > 0).all(axis=1)
    lat = df["latency_ms"].to_numpy(float)
    fixed = [corrected(v, r, base) if h else o for v, r, h, o in zip(lat, lad, has, out["latency_ms"])]
    return df.assign(latency_ms=fixed)


def at_typical_speed(latency_ms: float, refs_ms: Sequence[float], base_ms: Sequence[float]) -> float | None:
    """One measurement put at the host's typical quiet speed, as labels are: divided by its batch's
    ladder slowdown against the host's remembered quiet ladder. None without both ladders."""
    r, b = np.asarray(refs_ms, float), np.asarray(base_ms, float)
    if r.size < 2 or r.shape != b.shape or not (np.isfinite(r).all() and np.isfinite(b).all()):
        return None
    if not ((r > 0).all() and (b > 0).all() and math.isfinite(latency_ms) and latency_ms > 0):
        return None
    return corrected(latency_ms, list(r), list(b))


def labels_of(df: pd.DataFrame, correct_drift: bool = True) -> pd.DataFrame:
    """One row per subnet (of one host's ok measurements): the label ``latency_ms`` = median of its
    drift-corrected visits, ``visits``, and the columns of its first measurement."""
    if correct_drift:
        df = drift_corrected(df)
    if not len(df):
        return df.assign(visits=pd.Series(dtype=int))
    g = df.groupby("key", sort=False)
    first = g.head(1).set_index("key")
    first["latency_ms"] = g["latency_ms"].median()
    first["visits"] = g.size()
    return first.reset_index()


def retest_noise(a_ms: Sequence[float] | np.ndarray, b_ms: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Test-retest disagreement of subnets measured twice (``a_ms[i]`` and ``b_ms[i]``: one subnet at two
    times; pairs without two positive figures are left out): ``rel`` = |a - b| / mean(a, b) as ``median``,
    ``p90`` and ``worst``, with the count ``subnets``, and ``label_noise`` = mean(rel) / sqrt(2), about the
    MAPE a perfect predictor would show against one set of these labels (each carries its own error)."""
    a, b = np.asarray(a_ms, np.float64), np.asarray(b_ms, np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    a, b = a[ok], b[ok]
    if not len(a):
        return {"subnets": 0, "median": None, "p90": None, "worst": None, "label_noise": None}
    rel = np.abs(a - b) / ((a + b) / 2)
    return {
        "subnets": int(len(a)),
        "median": float(np.median(rel)),
        "p90": float(np.percentile(rel, 90)),
        "worst": float(rel.max()),
        "label_noise": float(rel.mean() / np.sqrt(2)),
    }


def retest_noise_of(df: pd.DataFrame, correct_drift: bool = True) -> dict[str, Any]:
    """:func:`retest_noise` inside one host's ok measurements: the first two visits (in store order) of
    each subnet measured in two or more."""
    if correct_drift:
        df = drift_corrected(df)
    if not len(df):
        return retest_noise([], [])
    nth = df.groupby("key", sort=False).cumcount()
    first = df[nth == 0].set_index("key")["latency_ms"]
    second = df[nth == 1].set_index("key")["latency_ms"]
    return retest_noise(first.loc[second.index].to_numpy(float), second.to_numpy(float))
