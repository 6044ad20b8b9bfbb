import pytest

from hwnas.core import ConfigError, SubnetConfig

AF_T = SubnetConfig(
    192, 13, (3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5), (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3)
)


def test_key_is_stable_readable_and_invertible():
    assert AF_T.key() == "e192-d13-m3.5,3.5,3,3.5,3,3,4,4,3.5,4,3.5,4,3.5-h3,3,3,3,3,3,3,3,3,3,4,3,3"
    assert SubnetConfig.from_key(AF_T.key()) == AF_T
    # ints and floats for the same ratio give the same key and the same config
    assert SubnetConfig(96, 1, (4,), (2,)).key() == SubnetConfig(96, 1, (4.0,), (2,)).key()


def test_dict_and_retrain_round_trip():
    assert SubnetConfig.from_dict(AF_T.to_dict()) == AF_T
    assert SubnetConfig.from_retrain(AF_T.to_retrain()) == AF_T


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(embed_dim=96, depth=2, mlp_ratio=(4.0,), num_heads=(2, 2)),
        dict(embed_dim=96, depth=1, mlp_ratio=(0.0,), num_heads=(2,)),
        dict(embed_dim=96, depth=1, mlp_ratio=(4.0,), num_heads=(0,)),
        dict(embed_dim=0, depth=1, mlp_ratio=(4.0,), num_heads=(1,)),
        dict(embed_dim=96.5, depth=1, mlp_ratio=(4.0,), num_heads=(1,)),
    ],
)
def test_malformed_configs_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        SubnetConfig(**kwargs)


def test_retrain_block_errors_name_what_is_missing():
    with pytest.raises(ConfigError, match="NUM_HEADS"):
        SubnetConfig.from_retrain({"DEPTH": 1, "EMBED_DIM": 8, "MLP_RATIO": [4.0]})
    with pytest.raises(ConfigError):
        SubnetConfig.from_key("not-a-key")


def test_mlp_hidden_truncates_like_autoformer():
    cfg = SubnetConfig(216, 1, (3.5,), (3,))
    assert cfg.mlp_hidden(0) == int(216 * 3.5) == 756
    assert SubnetConfig(100, 1, (3.33,), (1,)).mlp_hidden(0) == 333
