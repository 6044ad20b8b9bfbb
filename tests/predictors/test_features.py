import numpy as np
import pytest

from hwnas.core import SubnetConfig, count_macs, count_params, layer_costs, presets
from hwnas.core.errors import ConfigError
from hwnas.predictors.features import feature_matrix, feature_names, layer_tensor, params_macs, schema, to_batch


@pytest.mark.parametrize("name", presets.names())
def test_analytic_features_equal_core_complexity(name):
    space = presets.get(name)
    cfgs = space.sample_unique(50, np.random.default_rng(1)) + [space.min_config(), space.max_config()]
    params, macs = params_macs(space, to_batch(space, cfgs))
    assert params.tolist() == [count_params(space, c) for c in cfgs]
    assert macs.tolist() == [count_macs(space, c) for c in cfgs]
    X = feature_matrix(space, cfgs)
    names = feature_names(space)
    assert X.shape == (len(cfgs), len(names))
    D = space.super_depth
    for row, c in zip(X, cfgs):
        costs = layer_costs(space, c)
        attn = [(lc.qkv_macs + lc.attn_matmul_macs + lc.proj_macs) / 1e6 for lc in costs]
        assert np.allclose(row[names.index("attn_macs_0") :][: c.depth], attn)
        assert np.allclose(row[names.index("mlp_macs_0") :][: c.depth], [lc.mlp_macs / 1e6 for lc in costs])
        assert row[names.index("mlp_ratio_0") :][:D].tolist() == list(c.mlp_ratio) + [0.0] * (D - c.depth)
        assert row[names.index("num_heads_0") :][:D].tolist() == list(c.num_heads) + [0.0] * (D - c.depth)


def test_layer_tensor_sums_to_macs(space, data):
    cfgs, _ = data
    layer, stem = layer_tensor(space, cfgs)
    macs = params_macs(space, to_batch(space, cfgs))[1] / 1e6
    assert layer.shape == (len(cfgs), space.super_depth, len(schema(space)["layer_features"]))
    assert np.allclose(stem[:, 1] + layer[:, :, 1:5].sum((1, 2)), macs)
    assert layer[:, :, 0].sum(1).tolist() == [c.depth for c in cfgs]


def test_batch_take_and_empty(space, data):
    cfgs, _ = data
    b = to_batch(space, cfgs)
    assert np.array_equal(feature_matrix(space, b.take([3, 1])), feature_matrix(space, [cfgs[3], cfgs[1]]))
    assert feature_matrix(space, []).shape == (0, len(feature_names(space)))


def test_deeper_than_supernet_is_refused(space):
    d = space.super_depth + 1
    with pytest.raises(ConfigError, match="deeper than the supernet"):
        feature_matrix(space, [SubnetConfig(96, d, (2.0,) * d, (2,) * d)])
