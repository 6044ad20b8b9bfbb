"""NSGA-II's building blocks: non-dominated sorting and crowding distance (every objective minimised)."""

from __future__ import annotations

import numpy as np


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one."""
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(objs: np.ndarray) -> list[np.ndarray]:
    """Fronts of row indices: front 0 is non-dominated, front 1 is dominated only by front 0, ..."""
    objs = np.asarray(objs, dtype=float)
    n = objs.shape[0]
    if n == 0:
        return []
    le = np.all(objs[:, None, :] <= objs[None, :, :], axis=2)
    lt = np.any(objs[:, None, :] < objs[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)  # how many dominate j
    fronts: list[np.ndarray] = []
    current = np.flatnonzero(count == 0)
    while current.size:
        fronts.append(current)
        count = count - dom[current].sum(axis=0)
        count[current] = -1
        current = np.flatnonzero(count == 0)
    return fronts


def crowding_distance(objs: np.ndarray) -> np.ndarray:
    """Per row: the normalised perimeter of the cuboid its neighbours span; extremes get infinity."""
    objs = np.asarray(objs, dtype=float)
    n, m = objs.shape
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(objs[:, k], kind="stable")
        span = objs[order[-1], k] - objs[order[0], k]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (objs[order[2:], k] - objs[order[:-2], k]) / span
    return dist


def nsga2_order(objs: np.ndarray) -> np.ndarray:
    """All rows, best first: by front, then by crowding distance (larger first) within a front."""
    out: list[int] = []
    for front in non_dominated_sort(objs):
        crowd = crowding_distance(objs[front])
        out.extend(front[np.argsort(-crowd, kind="stable")])
    return np.asarray(out, dtype=int)


def nsga2_select(objs: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` rows NSGA-II's environmental selection keeps."""
    return nsga2_order(objs)[:k]


def pareto_front(objs: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows."""
    fronts = non_dominated_sort(objs)
    return fronts[0] if fronts else np.zeros(0, dtype=int)
