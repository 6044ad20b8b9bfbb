"""Latency measurement: the protocol, the runtimes (ONNX Runtime, TensorRT), the store, sampling.

Nothing here imports torch; TensorRT and CUDA are imported only inside the TensorRT runtime.
"""

from hwnas.profiling.record import LatencyRecord
from hwnas.profiling.store import LatencyStore

__all__ = ["LatencyRecord", "LatencyStore"]
