"""The model as an INT8 device ships it: an FP32 ONNX file quantized with ONNX Runtime's own tools.

* ``int8-dynamic``: ``quantize_dynamic``, weights INT8, activations quantized at run time.
* ``int8-static``: ``quantize_static`` in QDQ format, per-channel INT8 weights, UINT8 activations whose
  ranges are calibrated (min/max) on ``device.calibration`` training images (:func:`calibration_images`).

Both quantize the matrix products (MatMul, Gemm, the patch-embedding Conv) and leave layer norms, softmax
and GELU in FP32, the usual split for transformers. The model first goes through ONNX Runtime's
``quant_pre_process`` where that succeeds (shape inference, no graph optimisation: that would fold the
relative-position lookups into large constants). The quantized file is loaded and run once before it is
accepted, so a model that quantizes into something ONNX Runtime cannot run is a :class:`QuantizationError`
here, with the reason, never a latency later. Quantization time is returned (``Deployed.quantize_s``), not timed.

Weights are not range-reduced (``reduce_range=False``): right on CPUs with VNNI or AMX; on older x86
CPUs ONNX Runtime's int8 kernels may saturate and are rarely faster than FP32 (``hwnas devices`` warns).
No torch at import: :func:`calibration_images` reads the data sets (torch) when called.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hwnas.core.atomic import atomic_write
from hwnas.core.errors import ConfigError, HwnasError
from hwnas.devices.device import MIN_CALIBRATION

if TYPE_CHECKING:
    from hwnas.core.space import SearchSpace
    from hwnas.devices.device import Device

QUANTIZED_OPS = ["MatMul", "Gemm", "Conv"]
# Calibration runs whose every intermediate output is held before their ranges are merged (bounds memory:
# tens of MB a run at 224x224). ONNX Runtime's other bound, CalibMaxIntermediateOutputs, drops the data.
MAX_STRIDE = 16
CALIBRATION_SEED = 0
# ONNX Runtime's symbolic shape inference saves a copy of the model into the working directory when it
# gives up (on an operator it does not know; quant_pre_process then fails and is skipped): removed after.
SHAPE_INFERENCE_LEFTOVERS = ("sym_shape_infer_temp.onnx", "sym_shape_infer_temp.onnx.data")


class QuantizationError(HwnasError, RuntimeError):
    """ONNX Runtime's tools could not quantize a model, or the result does not run (one line)."""


@dataclass(frozen=True)
class Deployed:
    """The model file a device measures, and what making it cost."""

    path: Path
    quantize_s: float  # seconds the quantization took (0.0 when the device measures the FP32 file itself)
    precision: str = "fp32"


def deploy_onnx(fp32_path: Path, out_path: Path, device: Device, calibration: np.ndarray | None) -> Deployed:
    """The ONNX file ``device`` measures: ``fp32_path`` itself unless the device is INT8, else its
    quantization written to ``out_path`` (atomically). ``calibration``: float32 NCHW images for
    ``int8-static`` (at least ``device.calibration``; :func:`calibration_images`), ignored otherwise.
    Raises QuantizationError (one line) when the model cannot be quantized or the result does not run."""
    fp32_path, out_path = Path(fp32_path), Path(out_path)
    if not device.quantized:
        return Deployed(fp32_path, 0.0, device.precision)
    if out_path.resolve() == fp32_path.resolve():
        raise ConfigError(f"write the quantized model beside the FP32 one, not over it ({out_path})")
    shape = _input_shape(fp32_path)
    images = None
    if device.precision == "int8-static":
        images = _checked_calibration(calibration, shape, device)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=out_path.parent) as tmp:
        work = Path(tmp)
        try:
            with _quiet_quantizer():
                _quantize(fp32_path, work, device, images, shape)
            _check_runs(work / "int8.onnx", shape)
        except Exception as e:  # whatever the tools raise: the model is not deployable in this form
            raise QuantizationError(f"{device.precision} quantization of {fp32_path.name} failed: {_why(e)}") from e
        seconds = time.perf_counter() - t0
        data = _with_props(work / "int8.onnx", device)
    atomic_write(out_path, lambda f: f.write(data))
    return Deployed(out_path, seconds, device.precision)


def _quantize(fp32_path: Path, work: Path, device: Device, images: np.ndarray | None, shape: tuple[int, ...]) -> None:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre, out = work / "pre.onnx", work / "int8.onnx"
    try:
        with _no_stray_files(Path.cwd(), SHAPE_INFERENCE_LEFTOVERS):
            quant_pre_process(str(fp32_path), str(pre), skip_optimization=True)
    except Exception:  # it only helps (shapes for the quantizer); the quantizer says if it cannot do without
        pre = fp32_path
    if images is None:
        quantize_dynamic(pre, out, weight_type=QuantType.QInt8, per_channel=False, op_types_to_quantize=QUANTIZED_OPS)
        return
    reader = _Reader(_input_name(pre), images, shape[0])
    quantize_static(
        pre,
        out,
        reader,
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=QUANTIZED_OPS,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"CalibStridedMinMax": reader.stride()},
    )


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol: the images in batches of the model's batch size,
    read in strides (``set_range``) whose ranges are merged, so only one stride's outputs are held."""

    def __init__(self, input_name: str, images: np.ndarray, batch: int) -> None:
        stop = len(images) - len(images) % batch
        self._feeds = [{input_name: images[i : i + batch]} for i in range(0, stop, batch)]
        self._next = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)

    def stride(self) -> int:
        """The largest stride up to MAX_STRIDE that divides the batches (ONNX Runtime requires one that does)."""
        return max(d for d in range(1, min(MAX_STRIDE, len(self)) + 1) if len(self) % d == 0)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next = iter(self._feeds[start_index:end_index])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._next, None)


def _checked_calibration(images: np.ndarray | None, shape: tuple[int, ...], device: Device) -> np.ndarray:
    if images is None:
        raise ConfigError(f"device {device.name!r} quantizes statically: it needs calibration images")
    if images.ndim != 4 or tuple(images.shape[1:]) != shape[1:]:
        raise ConfigError(
            f"calibration images of shape {tuple(images.shape[1:])} do not fit the model's input {shape[1:]} "
            "(images of another space?)"
        )
    if len(images) < device.calibration:
        raise ConfigError(
            f"device {device.name!r} calibrates on {device.calibration} images; the calibration set has {len(images)}"
        )
    return np.ascontiguousarray(images[: device.calibration], dtype=np.float32)


def _input_shape(path: Path) -> tuple[int, ...]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        raise QuantizationError(f"{path.name} is not a readable ONNX model: {_why(e)}") from None
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if not dims or any(not d.HasField("dim_value") for d in dims):
        raise QuantizationError(f"{path.name}: quantization needs a static input shape (export without dynamic batch)")
    return tuple(int(d.dim_value) for d in dims)


def _input_name(path: Path) -> str:
    import onnx

    return str(onnx.load(str(path), load_external_data=False).graph.input[0].name)


def _check_runs(path: Path, shape: tuple[int, ...]) -> None:
    """Load the quantized model and run it once (ONNX Runtime accepts some graphs it cannot run)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    session.run(None, {inp.name: np.zeros(shape, np.float32)})


def _with_props(path: Path, device: Device) -> bytes:
    """The quantized model's bytes with its metadata saying what it is (the export wrote 'fp32')."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props["precision"] = device.precision
    if device.precision == "int8-static":
        props["calibration_images"] = str(device.calibration)
    onnx.helper.set_model_props(model, props)
    return bytes(model.SerializeToString())


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """ONNX Runtime's quantizer logs warnings per tensor to the root logger: silence them meanwhile."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


@contextmanager
def _no_stray_files(folder: Path, names: tuple[str, ...]) -> Iterator[None]:
    """Remove the files of ``names`` that appear in ``folder`` (or change there) meanwhile."""

    def stamps() -> dict[str, int]:
        return {n: (folder / n).stat().st_mtime_ns for n in names if (folder / n).is_file()}

    before = stamps()
    try:
        yield
    finally:
        for name, stamp in stamps().items():
            if before.get(name) != stamp:
                (folder / name).unlink(missing_ok=True)


def _why(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def quantized_ops(path: Path) -> dict[str, int]:
    """How many nodes of each quantization op type a model holds (what the tools inserted)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear") or "Integer" in node.op_type:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def calibration_images(
    space: SearchSpace, data: str = "mnist", n: int = 256, seed: int = CALIBRATION_SEED
) -> np.ndarray:
    """``n`` training images of ``data`` (float32, NCHW, normalised as training normalises them) drawn with
    ``seed``, shaped for ``space``. ``data``: 'mnist' (the bundled sample; for spaces of another size its
    digits go through the evaluation transform at the space's size, replicated to 3 channels for RGB
    spaces) or an image folder. ConfigError (one line) for fewer than MIN_CALIBRATION images, more than
    the training split holds, or images that cannot fit the space."""
    from hwnas.data import bundled

    images: Any
    if n < MIN_CALIBRATION:
        raise ConfigError(f"a calibration set of {n} images is too small (at least {MIN_CALIBRATION})")
    if data == bundled.NAME:
        images = bundled.mnist_split("train")[0].numpy()
        if (space.img_size, space.in_chans) != (bundled.IMG_SIZE, bundled.IN_CHANS):
            images = _ResizedDigits(images * bundled.STD + bundled.MEAN, space)
    else:
        from hwnas.data import load_split

        images = _LazyImages(load_split(data, "train", space))
    if len(images) < n:
        raise ConfigError(f"{data} has {len(images)} training images; the calibration set needs {n}")
    pick = np.sort(np.random.default_rng(seed).choice(len(images), size=n, replace=False))
    out = np.ascontiguousarray(np.stack([np.asarray(images[int(i)]) for i in pick]), dtype=np.float32)
    want = (space.in_chans, space.img_size, space.img_size)
    if out.shape[1:] != want:
        raise ConfigError(f"calibration images are {out.shape[1:]}, space {space.name!r} takes {want}")
    return out


class _LazyImages:
    """Images of a data set read one at a time (a folder is not loaded whole)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.dataset[i][0].numpy())


class _ResizedDigits(_LazyImages):
    """Grey images (N, 1, H, W) on a 0..1 scale, each put through the evaluation transform for ``space``
    when read: resized and cropped to its size, replicated to RGB for 3-channel spaces, normalised."""

    def __init__(self, grey: np.ndarray, space: SearchSpace) -> None:
        from hwnas.data.transforms import GRAY_MEAN, GRAY_STD, IMAGENET_MEAN, IMAGENET_STD, eval_transform

        if space.in_chans not in (1, 3):
            raise ConfigError(f"calibration images come in 1 or 3 channels; space {space.name!r} has {space.in_chans}")
        mean, std = (GRAY_MEAN, GRAY_STD) if space.in_chans == 1 else (IMAGENET_MEAN, IMAGENET_STD)
        self.grey, self.mode = grey, "L" if space.in_chans == 1 else "RGB"
        self.transform = eval_transform(space.img_size, mean, std)

    def __len__(self) -> int:
        return len(self.grey)

    def __getitem__(self, i: int) -> np.ndarray:
        from PIL import Image

        pixels = np.clip(np.rint(self.grey[i, 0] * 255.0), 0, 255).astype(np.uint8)
        image = Image.fromarray(pixels).convert(self.mode)
        return np.asarray(self.transform(image, np.random.default_rng(0)).numpy())  # the eval transform draws none
