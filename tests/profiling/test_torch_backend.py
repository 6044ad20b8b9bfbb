"""PyTorch as a runtime: the torch.export program it measures (pickle-free), the cpu-torch runner on the
real torch runtime, and gpu-torch where a CUDA GPU answers."""

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from hwnas import devices
from hwnas.core import presets
from hwnas.core.errors import ConfigError
from hwnas.profiling.backends import backend_for, open_runner
from hwnas.profiling.protocol import Measurement, measure_batch
from hwnas.supernet.export_torch import export_torch, input_shape, load_program, pickled_entries, program_meta
from hwnas.supernet.supernet import Supernet

MNIST = presets.get("mnist-cpu")
QUICK = devices.get("cpu-torch").with_(name="cpu-torch-quick", warmup_runs=4, rounds=3, block_ms=5.0)


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, tuple[Path, torch.nn.Module]]:
    """mnist-cpu's smallest and largest subnets as .pt2 programs (seeded random weights), with their modules."""
    torch.manual_seed(0)
    net = Supernet(MNIST).eval()
    folder = tmp_path_factory.mktemp("pt2")
    out = {}
    for name, cfg in (("min", MNIST.min_config()), ("max", MNIST.max_config())):
        static = net.extract(cfg).eval()
        out[name] = (export_torch(static, folder / f"{name}.pt2"), static)
    return out


def test_program_computes_the_static_subnet_and_holds_no_pickle(programs):
    path, static = programs["min"]
    program = load_program(path)
    assert input_shape(program) == (1, 1, 28, 28)
    x = torch.randn(1, 1, 28, 28)
    with torch.inference_mode():
        assert torch.allclose(program.module()(x), static(x), atol=1e-5)
    assert pickled_entries(path) == []
    assert program_meta(path)["subnet_key"] == MNIST.min_config().key()


def test_a_program_with_pickled_data_is_refused(tmp_path, programs):
    path, static = programs["min"]
    program = torch.export.export(static, (torch.zeros(1, 1, 28, 28),))  # keeps its sample inputs: pickled
    torch.export.save(program, tmp_path / "pickled.pt2")
    assert any("sample_inputs" in e for e in pickled_entries(tmp_path / "pickled.pt2"))
    with pytest.raises(ConfigError, match="pickled data"):
        load_program(tmp_path / "pickled.pt2")
    (tmp_path / "junk.pt2").write_bytes(b"not a zip")
    with pytest.raises(ConfigError, match="not a torch.export archive"):
        load_program(tmp_path / "junk.pt2")
    with zipfile.ZipFile(path) as z:  # ours: the graph as JSON, weights as raw bytes
        assert any(n.endswith("models/model.json") for n in z.namelist())


def test_cpu_torch_runner_times_a_real_model_and_leaves_torch_threads_alone(programs):
    threads = torch.get_num_threads()
    with open_runner(QUICK, programs["min"][0]) as runner:
        runs = runner.time_runs(5)
        assert len(runs) == 5 and all(0 < r < 1000 for r in runs)
        assert runner.setup_s > 0 and runner.runtime_version == torch.__version__
    assert torch.get_num_threads() == threads
    assert backend_for(QUICK).clock(QUICK) == "thread"


def test_protocol_measures_torch_runners_and_ranks_them(programs):
    runners = {k: open_runner(QUICK, p) for k, (p, _) in programs.items()}
    try:
        out = measure_batch(runners, QUICK, np.random.default_rng(0))
    finally:
        for r in runners.values():
            r.close()
    small, large = out["min"], out["max"]
    assert isinstance(small, Measurement) and isinstance(large, Measurement)
    assert large.latency_ms > 1.5 * small.latency_ms  # 4 blocks of 96 vs 8 of 192 dims: several times the work


def test_gpu_torch_says_why_it_is_unusable_here():
    ok, why = devices.get("gpu-torch").available()
    if ok:
        pytest.skip("a CUDA GPU answers torch here")
    assert why and "\n" not in why


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU and a CUDA build of torch")
def test_gpu_torch_times_cuda_graph_replays_with_events(programs):
    device = devices.get("gpu-torch")
    with open_runner(device, programs["max"][0]) as runner:
        compute = runner.time_runs(20)
        figures = runner.last_figures
    assert len(compute) == 20 and all(c > 0 for c in compute)
    assert set(figures) == {"compute_ms", "e2e_ms"}
    assert np.median(figures["e2e_ms"]) >= np.median(figures["compute_ms"])  # the host waits for the GPU
    assert backend_for(device).clock(device) == "cuda-event"
