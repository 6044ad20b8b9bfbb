"""hwnas reproduces AutoFormer's own supernet: same logits through the supernet, the extracted static
module and ONNX Runtime, and AutoFormer's parameter counts."""

import argparse
import warnings

import numpy as np
import onnxruntime as ort
import pytest
import torch

from hwnas.core import ConfigError, SubnetConfig, count_params
from hwnas.supernet import export_onnx, load_supernet
from hwnas.supernet.checkpoint import atomic_torch_save

TOL = 1e-4


@pytest.fixture(scope="module")
def autoformer_ckpt(tmp_path_factory, autoformer_reference):
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pth"
    # as AutoFormer's train script writes it: weights plus training state and its argparse args
    ckpt = dict(autoformer_reference["checkpoint"], epoch=3, args=argparse.Namespace(lr=5e-4, gp=True))
    atomic_torch_save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def supernet(autoformer_ckpt, reference_space):
    net, _ = load_supernet(autoformer_ckpt, reference_space)
    return net.eval()


def _cases(ref):
    return [(SubnetConfig.from_dict(c["config"]), c) for c in ref["cases"]]


def test_every_case_matches_through_supernet_static_module_and_onnx(
    supernet, autoformer_reference, reference_space, tmp_path
):
    x = autoformer_reference["input"]
    for cfg, case in _cases(autoformer_reference):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reference samples ratios outside our listed choices
            reference_space.validate(cfg)
        supernet.set_config(cfg)
        with torch.no_grad():
            from_super = supernet(x)
            static = supernet.extract(cfg).eval()
            from_static = static(x)
        path = export_onnx(static, tmp_path / f"{cfg.key()}.onnx", batch_size=x.shape[0])
        from_onnx = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
        ref = case["logits"]
        assert torch.allclose(from_super, ref, atol=TOL, rtol=0), cfg.key()
        assert torch.allclose(from_static, ref, atol=TOL, rtol=0), cfg.key()
        assert np.allclose(from_onnx, ref.numpy(), atol=TOL, rtol=0), cfg.key()


def test_parameter_counts_match_autoformer_analytically_and_in_the_static_module(
    supernet, autoformer_reference, reference_space
):
    for cfg, case in _cases(autoformer_reference):
        static = supernet.extract(cfg)
        assert count_params(reference_space, cfg) == case["params"]
        assert sum(p.numel() for p in static.parameters()) == case["params"]


def test_a_wrong_space_for_the_checkpoint_is_one_clear_error(autoformer_ckpt):
    from hwnas.core import get_space

    with pytest.raises(ConfigError, match="does not fit the supernet.*shape mismatch"):
        load_supernet(autoformer_ckpt, get_space("autoformer-tiny"))
    with pytest.raises(ConfigError, match="pass its search space"):
        load_supernet(autoformer_ckpt)
