import pytest

from hwnas.core import ConfigError, SubnetConfig, get_space
from hwnas.core.yaml_io import load_space_file, load_subnet, save_space, save_subnet

# The layout of AutoFormer's own experiment files: SUPERNET maxima, SEARCH_SPACE lists, RETRAIN subnet.
AUTOFORMER_T = """\
SUPERNET:
  MLP_RATIO: 4.0
  NUM_HEADS: 4
  EMBED_DIM: 256
  DEPTH: 14
SEARCH_SPACE:
  MLP_RATIO:
    - 3.5
    - 4
  NUM_HEADS:
    - 3
    - 4
  DEPTH:
    - 12
    - 13
    - 14
  EMBED_DIM:
    - 192
    - 216
    - 240
RETRAIN:
  MLP_RATIO: [3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5]
  NUM_HEADS: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3]
  DEPTH: 13
  EMBED_DIM: 192
"""


def test_autoformer_files_load_unchanged_with_autoformer_geometry(tmp_path):
    f = tmp_path / "AutoFormer-T.yaml"
    f.write_text(AUTOFORMER_T)
    space = load_space_file(f)
    assert space == get_space("autoformer-tiny")  # MODEL defaults are AutoFormer's values
    cfg = load_subnet(f)
    assert cfg.depth == 13 and cfg.embed_dim == 192 and cfg.num_heads[10] == 4


def test_space_and_subnet_round_trip_with_model_block(tmp_path):
    space = get_space("mnist-cpu")
    save_space(space, tmp_path / "s.yaml")
    assert load_space_file(tmp_path / "s.yaml") == space
    assert "MODEL:" in (tmp_path / "s.yaml").read_text()
    cfg = space.max_config()
    save_subnet(cfg, tmp_path / "sub.yaml", space)
    assert load_subnet(tmp_path / "sub.yaml") == cfg
    assert load_space_file(tmp_path / "sub.yaml") == space


@pytest.mark.parametrize(
    "text, match",
    [
        ("SUPERNET: [1, 2\n", "malformed YAML"),
        ("- a\n- b\n", "mapping"),
        ("SEARCH_SPACE: {}\n", "SUPERNET block"),
        ("SUPERNET: {EMBED_DIM: 64, NUM_HEADS: 1, DEPTH: 2}\n", "MLP_RATIO"),
        ("SUPERNET: {EMBED_DIM: 64, NUM_HEADS: 1, DEPTH: 2, MLP_RATIO: 4}\nMODEL: {IMG_SIZ: 32}\n", "unknown MODEL"),
        (
            "SUPERNET: {EMBED_DIM: 64, NUM_HEADS: 1, DEPTH: 2, MLP_RATIO: 4}\nMODEL: {IMG_SIZE: 30, PATCH_SIZE: 8}\n",
            "multiple",
        ),
        (
            "SUPERNET: {EMBED_DIM: 64, NUM_HEADS: 1, DEPTH: 2, MLP_RATIO: 4}\nSEARCH_SPACE: {EMBED_DIM: [96]}\n",
            "exceed",
        ),
    ],
)
def test_malformed_space_files_raise_config_error(tmp_path, text, match):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_space_file(f)


def test_subnet_file_without_retrain_is_an_error(tmp_path):
    f = tmp_path / "s.yaml"
    save_subnet(SubnetConfig(96, 1, (2.0,), (2,)), f)
    assert load_subnet(f).embed_dim == 96
    f.write_text("SUPERNET: {}\n")
    with pytest.raises(ConfigError, match="RETRAIN"):
        load_subnet(f)
