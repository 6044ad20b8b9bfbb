"""The built-in devices. Users add their own in a file (:mod:`hwnas.devices.files`)."""

from __future__ import annotations

from hwnas.devices.device import Device
from hwnas.devices.host import physical_cores
from hwnas.devices.registry import register


# One thread: a second one makes repeated measurements far less repeatable on a shared machine (another
# process steals a core from a 2-thread run). With one thread the whole run happens on the calling
# thread, so its CPU time is the latency on an unshared core. See hwnas.profiling.protocol.
@register("cpu")
def _cpu() -> Device:
    return Device(
        "cpu",
        "onnxruntime",
        "ONNX Runtime CPU EP, 1 intra-op thread, sequential, all graph optimisations, timed by thread CPU time",
        threads=1,
        clock="thread",
    )


@register("cpu-mt")
def _cpu_mt() -> Device:
    n = physical_cores()
    return Device(
        "cpu-mt",
        "onnxruntime",
        f"ONNX Runtime CPU EP, {n} threads (all physical cores here); "
        "faster on big models, noisier on a shared machine",
        threads=n,
    )


# GPU runs are short and their first ones slow: more warm-up, shorter blocks of more runs.
# latency_ms is GPU compute time (CUDA events between back-to-back CUDA-graph launches); the end-to-end
# figure (host clock around launch + synchronize) is in every record too. See hwnas.profiling.backends.trt.
@register("gpu-trt")
def _gpu_trt() -> Device:
    return Device(
        "gpu-trt",
        "tensorrt",
        "TensorRT 10/11 engine, true FP32 (TF32 off); latency_ms = GPU "
        "compute time from CUDA events around back-to-back CUDA-graph launches",
        provider="",
        threads=0,
        warmup_runs=50,
        block_ms=10.0,
        min_block_runs=10,
        max_block_runs=200,
        latency="compute",
        gpu_timing="graph",
    )


@register("gpu-trt-tf32")
def _gpu_trt_tf32() -> Device:
    return _gpu_trt().with_(
        name="gpu-trt-tf32",
        precision="tf32",
        description="TensorRT 10/11 engine, FP32 model with TF32 matmuls allowed (the "
        "TensorRT default on Ampere and newer); latency_ms = GPU compute time",
    )


@register("gpu-trt-fp16")
def _gpu_trt_fp16() -> Device:
    return _gpu_trt().with_(
        name="gpu-trt-fp16",
        precision="fp16",
        description="TensorRT 10/11 engine from an FP16 ONNX model (TF32 off for "
        "any FP32 layer left); latency_ms = GPU compute time",
    )


@register("gpu-ort-cuda")
def _gpu_ort_cuda() -> Device:
    return Device(
        "gpu-ort-cuda",
        "onnxruntime",
        "ONNX Runtime CUDA EP (host timer; output copied back)",
        provider="CUDAExecutionProvider",
        threads=1,
        warmup_runs=50,
        block_ms=10.0,
        min_block_runs=10,
        max_block_runs=200,
    )


# INT8 on the CPU: the FP32 model quantized with ONNX Runtime's own tools before it is measured (the
# quantization time is recorded, not timed), then measured exactly as "cpu" measures FP32.
@register("cpu-int8")
def _cpu_int8() -> Device:
    return _cpu().with_(
        name="cpu-int8",
        precision="int8-static",
        calibration=256,
        description="ONNX Runtime CPU EP, 1 thread, thread CPU time; static QDQ INT8 (per-channel weights, "
        "activation ranges calibrated on 256 training images)",
    )


@register("cpu-int8-dynamic")
def _cpu_int8_dynamic() -> Device:
    return _cpu().with_(
        name="cpu-int8-dynamic",
        precision="int8-dynamic",
        description="ONNX Runtime CPU EP, 1 thread, thread CPU time; dynamic INT8 (weights INT8, activations "
        "quantized at run time)",
    )


# PyTorch as the runtime: the subnet as a torch.export program (.pt2), run eagerly (or torch.compile'd
# with compile_mode). See hwnas.profiling.backends.pytorch.
@register("cpu-torch")
def _cpu_torch() -> Device:
    return Device(
        "cpu-torch",
        "torch",
        "PyTorch eager on the CPU, 1 intra-op thread, timed by thread CPU time",
        threads=1,
        clock="thread",
    )


@register("gpu-torch")
def _gpu_torch() -> Device:
    return Device(
        "gpu-torch",
        "torch",
        "PyTorch on a CUDA GPU; latency_ms = GPU compute time from CUDA events around back-to-back CUDA-graph replays",
        provider="cuda",
        threads=0,
        warmup_runs=50,
        block_ms=10.0,
        min_block_runs=10,
        max_block_runs=200,
    )
