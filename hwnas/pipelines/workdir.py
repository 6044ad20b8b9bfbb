"""The run folder that lets the commands compose without repeating paths."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from hwnas.core.errors import ConfigError

DEFAULT_WORKDIR = "hwnas-run"


@dataclass(frozen=True, init=False)
class RunDir:
    """Where each step leaves what the next one needs:

    - ``supernet.pt``: the trained supernet checkpoint (``hwnas train``)
    - ``latency.db``: the latency store (``hwnas profile``)
    - ``predictors/DEV.json``: the fitted latency predictor of each device (``hwnas fit``)
    - ``search/``: the search results: winner YAML, ONNX, report (``hwnas search``)
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))  # RunDir("hwnas-run") as well as RunDir(Path(...))

    @classmethod
    def resolve(cls, workdir: str | Path | None = None) -> RunDir:
        return cls(Path(workdir or os.environ.get("HWNAS_WORKDIR") or DEFAULT_WORKDIR))

    @property
    def supernet(self) -> Path:
        return self.root / "supernet.pt"

    @property
    def store(self) -> Path:
        return self.root / "latency.db"

    def predictor(self, device: str) -> Path:
        return self.root / "predictors" / f"{device}.json"

    @property
    def search(self) -> Path:
        return self.root / "search"

    def ensure(self) -> RunDir:
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"the run folder {self.root} is a file (--workdir or $HWNAS_WORKDIR names a folder)")
        self.root.mkdir(parents=True, exist_ok=True)
        return self
