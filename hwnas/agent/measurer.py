"""A measuring agent as a :class:`~hwnas.profiling.measurer.Measurer`: the batch's files go there, figures come back.

An agent busy with another client's batch is waited for (bounded); one that cannot be reached, or goes away
mid-batch, is :class:`~hwnas.profiling.measurer.MeasurerLost` (its batch may go to another measurer of the
fleet); a refusal (token, wire version, device definition, model) is raised as it is.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from hwnas.agent.client import AgentBusy, AgentClient, AgentUnreachable, BatchAnswer
from hwnas.devices.device import Device
from hwnas.profiling.measurer import BatchResult, MeasurerLost, ModelResult

BUSY_WAIT_S = 600.0  # how long a batch waits for an agent busy with another client's batch


class AgentMeasurer:
    """``AgentMeasurer(client)``: measures on the agent ``client`` talks to."""

    def __init__(self, client: AgentClient, busy_wait_s: float = BUSY_WAIT_S, poll_s: float = 2.0) -> None:
        self.client, self.busy_wait_s, self.poll_s = client, busy_wait_s, poll_s

    def __repr__(self) -> str:
        return f"AgentMeasurer({self.client.url!r})"

    @property
    def where(self) -> str:
        return self.client.url

    def check(self, device: Device) -> dict[str, Any]:
        try:
            return self.client.check(device)
        except AgentUnreachable as e:
            raise MeasurerLost(str(e)) from None

    def measure(self, device: Device, paths: Sequence[Path], seed: int, references: Collection[int]) -> BatchResult:
        deadline = time.monotonic() + self.busy_wait_s
        while True:
            try:
                answer = self.client.measure(device, list(paths), seed=seed, references=list(references))
                return _result(answer, self.client.url)
            except AgentBusy:
                if time.monotonic() > deadline:
                    raise MeasurerLost(
                        f"agent {self.client.url}: busy with another client for {self.busy_wait_s:g} s"
                    ) from None
                time.sleep(self.poll_s)
            except AgentUnreachable as e:
                raise MeasurerLost(str(e)) from None


def _result(answer: BatchAnswer, url: str) -> BatchResult:
    return BatchResult(
        [ModelResult(r.measurement, r.reason, r.setup_s, r.runtime_version) for r in answer.results],
        answer.fingerprint,
        answer.load_avg if answer.load_avg >= 0 else float("nan"),
        answer.others_cores,
        dict(answer.seconds),
        agent=f"{answer.name} {url}",
    )
