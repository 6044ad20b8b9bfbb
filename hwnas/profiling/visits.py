"""Which subnets each phase of a profiling run measures: first visits, later visits, retests, a third
visit where two disagree or a label surprises, and more (up to five) where no visit confirms the label.
Shared by every fleet of measurers, local or agents (:mod:`hwnas.pipelines.profile`), so all give a
store the same visits and the same known noise.

Every phase is planned from the store as it stands when the phase starts (visits are counted per
device, space and host), so a killed run started again measures only what is missing.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from hwnas.core.config import SubnetConfig
from hwnas.core.space import SearchSpace
from hwnas.profiling.store import LatencyStore
from hwnas.profiling.surprise import MAX_VISITS, SURPRISE_VISITS, disagreeing, surprising, unsettled

if TYPE_CHECKING:
    import pandas as pd

VISITS = 3  # visits of every subnet by default (each in another batch); its label is their median
DISAGREE = 0.03  # two visits further apart than this (relative, drift-corrected) earn a third
RETEST_SHARE, RETEST_MIN = 0.10, 8  # with one visit: subnets re-measured, 10 % of the plan, at least 8


def retest_target(n_planned: int, extra: int = 0) -> int:
    """Subnets of a plan of ``n_planned`` to measure in two visits: 10 %, at least 8, plus ``extra``."""
    return min(n_planned, max(RETEST_MIN, math.ceil(RETEST_SHARE * n_planned)) + max(0, extra))


class VisitPlan:
    """The phases of one run over ``configs`` on (``device``, space, ``host``) in ``store``; ``host``
    None: any host, only for a run that measures each subnet once (agents of several hosts).

    ``visits``: visits of every subnet; ``retest``: with one visit, re-measure :func:`retest_target`
    of the plan plus ``retest`` more; None: one visit each and nothing more (no retests at all)."""

    def __init__(
        self,
        configs: list[SubnetConfig],
        space: SearchSpace,
        store: LatencyStore,
        device: str,
        host: str | None,
        *,
        visits: int = VISITS,
        retest: int | None = 0,
        seed: int = 0,
    ) -> None:
        self.configs, self.space, self.store, self.device, self.host = configs, space, store, device, host
        self.visits = 1 if retest is None else visits
        self.retest, self.seed = retest, seed
        self._odd: list[SubnetConfig] = []

    def phases(self) -> list[str]:
        """In order; "surprise again" gives the odd ones out a third visit if the first left them at two;
        each "unsettled" phase one more visit to the subnets whose label no visit confirms yet."""
        later = [f"visit {k}" for k in range(2, self.visits + 1)]
        settle = ["unsettled"] * (MAX_VISITS - SURPRISE_VISITS)
        return ["new", *later, "retest", "disagree", "surprise", "surprise again", *settle]

    def _have(self) -> dict[str, int]:
        return {} if self.host is None else self.store.visits(self.device, self.space.digest(), self.host)

    def _ok_frame(self) -> pd.DataFrame:
        df = self.store.to_dataframe(self.device, self.space.digest(), self.host)
        return df[df["status"] == "ok"]

    def new(self) -> list[SubnetConfig]:
        """The plan's subnets never measured (ok or failed) on this host."""
        stored = self.store.keys(self.device, self.space.digest(), self.host)
        return [c for c in self.configs if c.key() not in stored]

    def expected_total(self) -> int:
        """Measurements this run will take at least (retests beyond the planned visits come on top)."""
        have = self._have()
        total = len(self.new()) + sum(max(0, self.visits - max(1, have.get(c.key(), 0))) for c in self.configs)
        if self.visits == 1 and self.retest is not None:
            planned = min(retest_target(len(self.configs), self.retest), len(self.configs))
            total += max(0, planned - sum(n >= 2 for n in have.values()))
        return total

    def subnets(self, phase: str) -> list[SubnetConfig]:
        """The subnets ``phase`` measures, from the store as it stands now."""
        if phase == "new":
            return self.new()
        have = self._have()
        if phase.startswith("visit "):
            return [c for c in self.configs if 1 <= have.get(c.key(), 0) < int(phase.split()[1])]
        if self.retest is None:
            return []
        if phase == "retest":
            done = sum(have.get(c.key(), 0) >= 2 for c in self.configs)
            once = [c for c in self.configs if have.get(c.key(), 0) == 1]
            want = max(0, min(len(once), retest_target(len(self.configs), self.retest) - done))
            order = np.random.default_rng([self.seed, 1]).permutation(len(once))
            return [once[i] for i in sorted(order[:want])]
        if phase == "disagree":
            odd = disagreeing(self._ok_frame(), DISAGREE)
            return [c for c in self.configs if c.key() in odd and have.get(c.key(), 0) < SURPRISE_VISITS]
        if phase == "unsettled":
            odd = unsettled(self._ok_frame(), DISAGREE)
            return [c for c in self.configs if c.key() in odd and have.get(c.key(), 0) < MAX_VISITS]
        if phase == "surprise":
            self._odd = surprising(self.space, self.configs, self._ok_frame(), self.seed)
        return [c for c in self._odd if have.get(c.key(), 0) < SURPRISE_VISITS]
