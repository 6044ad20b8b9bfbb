import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwnas.core import ConfigError, count_params, get_space
from hwnas.supernet import StaticViT, Supernet, export_onnx, load_supernet, save_checkpoint
from hwnas.supernet.export import weight_slicing_nodes


@pytest.fixture(scope="module")
def space():
    return get_space("mnist-cpu")


@pytest.fixture(scope="module")
def net(space):
    torch.manual_seed(0)
    return Supernet(space).eval()


@pytest.fixture(scope="module")
def configs(space):
    rng = np.random.default_rng(0)
    return [space.min_config(), space.max_config()] + space.sample_unique(2, rng)


def test_static_twin_equals_supernet_and_holds_copies_of_only_its_weights(net, space, configs):
    x = torch.randn(3, 1, 28, 28)
    for cfg in configs:
        net.set_config(cfg)
        with torch.no_grad():
            expected = net(x)
            static = net.extract(cfg).eval()
            assert torch.allclose(static(x), expected, atol=1e-5)
        assert sum(p.numel() for p in static.parameters()) == count_params(space, cfg)
        super_ptrs = {p.data_ptr() for p in net.parameters()}
        assert not any(p.data_ptr() in super_ptrs for p in static.parameters())
        with torch.no_grad():  # copies: changing the supernet leaves the twin alone
            before = static(x)
            net.head.weight.add_(1.0)
            after = static(x)
            net.head.weight.sub_(1.0)
        assert torch.equal(before, after)


def test_depth_n_runs_exactly_the_first_n_blocks(net, space):
    cfg = space.min_config()
    static = net.extract(cfg)
    assert len(static.blocks) == cfg.depth
    torch.testing.assert_close(
        static.blocks[0].fc1.weight, net.blocks[0].fc1.weight[: cfg.mlp_hidden(0), : cfg.embed_dim]
    )


def test_onnx_export_checks_matches_torch_and_slices_no_weight(net, space, configs, tmp_path):
    x = torch.randn(1, 1, 28, 28)
    for cfg in configs[:2]:
        static = net.extract(cfg).eval()
        path = export_onnx(static, tmp_path / "m.onnx")
        proto = onnx.load(path)
        onnx.checker.check_model(proto)
        assert weight_slicing_nodes(proto) == []
        assert proto.opset_import[0].version == 17
        meta = {p.key: p.value for p in proto.metadata_props}
        assert meta["subnet_key"] == cfg.key() and meta["space_digest"] == space.digest()
        dims = [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
        assert dims == [1, 1, 28, 28]
        out = ort.InferenceSession(str(path)).run(None, {"image": x.numpy()})[0]
        with torch.no_grad():
            np.testing.assert_allclose(out, static(x).numpy(), atol=1e-5)


def test_dynamic_batch_axis_on_request(net, space, tmp_path):
    static = net.extract(space.max_config()).eval()
    path = export_onnx(static, tmp_path / "dyn.onnx", dynamic_batch=True)
    sess = ort.InferenceSession(str(path))
    for b in (1, 5):
        x = torch.randn(b, 1, 28, 28)
        with torch.no_grad():
            np.testing.assert_allclose(sess.run(None, {"image": x.numpy()})[0], static(x).numpy(), atol=1e-5)


def test_weight_slicing_detector_really_detects(tmp_path):
    class Sliced(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(8, 8))

        def forward(self, x, n: int = 4):
            return x @ self.w[:, :4]

    torch.onnx.export(Sliced(), (torch.randn(2, 8),), tmp_path / "s.onnx", dynamo=False, do_constant_folding=False)
    assert weight_slicing_nodes(onnx.load(tmp_path / "s.onnx")) != []


def test_only_static_modules_are_exported(net, tmp_path):
    with pytest.raises(TypeError):
        export_onnx(net, tmp_path / "x.onnx")


def test_hwnas_checkpoint_round_trip_and_space_mismatch(net, space, tmp_path):
    path = save_checkpoint(net, tmp_path / "supernet.pt", epoch=2)
    loaded, ckpt = load_supernet(path)
    assert ckpt["epoch"] == 2 and loaded.space == space
    for a, b in zip(net.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ConfigError, match="not of 'autoformer-tiny'"):
        load_supernet(path, get_space("autoformer-tiny"))


def test_static_model_is_trainable(net, space):
    static = net.extract(space.min_config()).train()
    assert isinstance(static, StaticViT)
    loss = static(torch.randn(4, 1, 28, 28)).logsumexp(-1).mean()
    loss.backward()
    assert all(p.grad is not None for p in static.parameters())
