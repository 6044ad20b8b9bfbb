"""The up-front model checks (:func:`hwnas.agent.validate.check_model`) in a worker process of their own:
parsing and shape inference never hold the agent's event loop, and a model that makes them allocate or
spin meets the worker's address-space limit or a deadline, not the agent."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from hwnas.agent.sandbox import die_with_parent
from hwnas.agent.validate import RejectedModel, check_model


def _limit(memory_bytes: int) -> None:
    die_with_parent()  # a killed agent leaves no checker behind
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


class Checker:
    """``await Checker(memory_bytes, deadline_s).check(path)``: RejectedModel (one line) or None."""

    def __init__(self, memory_bytes: int = 2 << 30, deadline_s: float = 60.0) -> None:
        self.memory_bytes, self.deadline_s = memory_bytes, deadline_s
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(1, mp_context=ctx, initializer=_limit, initargs=(self.memory_bytes,))

    async def check(self, path: Path) -> None:
        fut = asyncio.get_running_loop().run_in_executor(self._pool, check_model, path)
        try:
            await asyncio.wait_for(fut, self.deadline_s)
        except RejectedModel:
            raise
        except asyncio.TimeoutError:
            self.restart()
            raise RejectedModel(f"checking the model took longer than {self.deadline_s:g} s") from None
        except (BrokenProcessPool, MemoryError):
            self.restart()
            raise RejectedModel("checking the model exhausted the checker's memory limit") from None

    def restart(self) -> None:
        self.close()
        self._pool = self._start()

    def close(self) -> None:
        for proc in list(getattr(self._pool, "_processes", {}).values()):
            proc.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
