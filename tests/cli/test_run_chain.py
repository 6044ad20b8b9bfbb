"""`hwnas run`'s chain called from Python (the whole chain runs in test_run_pipeline.py)."""

import pytest

from hwnas.core import get_space
from hwnas.core.errors import DeviceUnavailableError
from hwnas.pipelines.run import RunOptions, RunProgress, run_pipeline
from hwnas.pipelines.workdir import RunDir


def test_a_device_that_cannot_run_here_is_refused_before_training(tmp_path):
    from hwnas.devices import get

    if get("gpu-trt").available()[0]:
        pytest.skip("TensorRT runs here")
    heard: list[str] = []

    class Heard(RunProgress):
        def log(self, message: str) -> None:
            heard.append(message)

    with pytest.raises(DeviceUnavailableError, match="gpu-trt"):
        run_pipeline(RunDir(tmp_path / "run"), get_space("mnist-cpu"), RunOptions(device="gpu-trt"), progress=Heard())
    assert heard == [] and list((tmp_path / "run").iterdir()) == []  # nothing trained, nothing stored
