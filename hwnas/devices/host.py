"""What this machine is: CPU model and physical cores, read once from ``/proc/cpuinfo``.

Labels measured on different CPUs are different labels, so the CPU model goes into every record;
thread counts are checked against physical cores (SMT siblings share a core's arithmetic units).
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache

CPUINFO = "/proc/cpuinfo"


@lru_cache(maxsize=1)
def cpuinfo() -> tuple[dict[str, str], ...]:
    """One dict per logical processor (``key: value`` lines of ``/proc/cpuinfo``); empty where absent."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    try:
        with open(CPUINFO) as f:
            for line in f:
                key, sep, value = line.partition(":")
                if not line.strip():
                    if cur:
                        blocks.append(cur)
                    cur = {}
                elif sep:
                    cur[key.strip()] = value.strip()
    except OSError:
        return ()
    if cur:
        blocks.append(cur)
    return tuple(blocks)


def cpu_model() -> str:
    """CPU model name, or the platform's best guess where ``/proc/cpuinfo`` has none."""
    for block in cpuinfo():
        if block.get("model name"):
            return block["model name"]
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity set)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@lru_cache(maxsize=1)
def physical_cores() -> int:
    """Physical cores this process may use (SMT siblings counted once; never more than the affinity set)."""
    usable = usable_cpus()
    cores = {(b.get("physical id", "0"), b["core id"]) for b in cpuinfo() if "core id" in b}
    return max(1, min(usable, len(cores) or usable))


def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of the first processor (empty where ``/proc/cpuinfo`` has none)."""
    blocks = cpuinfo()
    return frozenset(blocks[0].get("flags", "").split()) if blocks else frozenset()


def native_bf16() -> bool:
    """Does the CPU multiply bfloat16 in hardware (AVX512-BF16 or AMX)? Elsewhere bf16 is emulated, slower
    than float32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


# Instructions that multiply 8-bit integers in hardware: AVX512-VNNI, AVX-VNNI, AMX-INT8
INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def native_int8() -> bool:
    """Does the CPU have dot-product instructions for int8 (VNNI or AMX)? Without them ONNX Runtime's int8
    kernels widen to 16 bits and an INT8 model is often no faster than FP32, or slower."""
    return bool(cpu_flags() & INT8_FLAGS)
