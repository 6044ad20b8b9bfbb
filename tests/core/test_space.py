import warnings

import numpy as np
import pytest

from hwnas.core import (
    ConfigError,
    OutOfChoicesWarning,
    SearchSpace,
    SubnetConfig,
    UnknownNameError,
    count_params,
    get_space,
    presets,
)

PAPER = {  # preset: (super embed, heads, depth, mlp), embed choices, depth choices, mlp, heads
    "autoformer-tiny": ((256, 4, 14, 4.0), (192, 216, 240), (12, 13, 14), (3.5, 4.0), (3, 4)),
    "autoformer-small": ((448, 7, 14, 4.0), (320, 384, 448), (12, 13, 14), (3.0, 3.5, 4.0), (5, 6, 7)),
    "autoformer-base": ((640, 10, 16, 4.0), (528, 576, 624), (14, 15, 16), (3.0, 3.5, 4.0), (9, 10)),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_autoformer_presets_have_the_paper_values(name):
    s = get_space(name)
    sup, emb, dep, mlp, heads = PAPER[name]
    assert (s.super_embed_dim, s.super_num_heads, s.super_depth, s.super_mlp_ratio) == sup
    assert (s.embed_dim, s.depth, s.mlp_ratio, s.num_heads) == (emb, dep, mlp, heads)
    assert (s.img_size, s.patch_size, s.num_classes, s.head_dim) == (224, 16, 1000, 64)
    assert s.relative_position and s.global_pool


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as e:
        get_space("autoformer-huge")
    for name in presets.names():
        assert name in str(e.value)


@pytest.mark.parametrize("name", presets.names())
def test_sampling_mutation_crossover_stay_in_choices(name):
    s, rng = get_space(name), np.random.default_rng(0)
    cfgs = [s.sample(rng) for _ in range(50)]
    kids = [s.mutate(c, rng) for c in cfgs] + [s.crossover(a, b, rng) for a, b in zip(cfgs, cfgs[1:])]
    for c in cfgs + kids + [s.min_config(), s.max_config()]:
        assert s.in_choices(c)
        s.check_fits(c)
    assert len({c.key() for c in cfgs}) > 40  # the sampler really varies


def test_sampling_is_reproducible_from_a_seed():
    s = get_space("mnist-cpu")
    a = s.sample_unique(20, np.random.default_rng(7))
    b = s.sample_unique(20, np.random.default_rng(7))
    assert a == b and len({c.key() for c in a}) == 20


def test_sample_unique_stops_when_the_space_runs_out():
    s = SearchSpace(
        embed_dim=(8,),
        depth=(1,),
        mlp_ratio=(1.0, 2.0),
        num_heads=(1,),
        super_embed_dim=8,
        super_depth=1,
        super_mlp_ratio=2.0,
        super_num_heads=1,
        img_size=8,
        patch_size=4,
    )
    assert s.size() == 2
    assert len(s.sample_unique(10, np.random.default_rng(0))) == 2


def test_mutation_changes_depth_consistently():
    s, rng = get_space("autoformer-tiny"), np.random.default_rng(1)
    cfg = s.min_config()
    depths = {s.mutate(cfg, rng, depth_prob=1.0).depth for _ in range(50)}
    assert depths == set(s.depth)


def test_crossover_of_different_depths_takes_genes_from_the_parents():
    s, rng = get_space("autoformer-tiny"), np.random.default_rng(2)
    a, b = s.min_config(), s.max_config()
    for _ in range(20):
        c = s.crossover(a, b, rng)
        assert c.depth in (a.depth, b.depth)
        for i in range(c.depth):
            assert c.mlp_ratio[i] in {p.mlp_ratio[i] for p in (a, b) if i < p.depth}


def test_subnet_beyond_the_supernet_is_an_error_and_outside_choices_a_warning():
    s = get_space("autoformer-tiny")
    with pytest.raises(ConfigError, match="embed_dim 320"):
        s.validate(SubnetConfig(320, 12, (4.0,) * 12, (4,) * 12))
    with pytest.raises(ConfigError, match="depth"):
        s.validate(SubnetConfig(192, 15, (4.0,) * 15, (4,) * 15))
    with pytest.raises(ConfigError, match="MLP width"):
        s.validate(SubnetConfig(256, 12, (4.5,) * 12, (4,) * 12))
    published_t = SubnetConfig(
        192,
        13,
        (3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5),
        (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3),
    )
    with pytest.warns(OutOfChoicesWarning):
        assert s.validate(published_t) is published_t
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.validate(s.max_config())


def test_analytic_params_of_the_published_autoformer_t():
    s = get_space("autoformer-tiny")
    cfg = SubnetConfig(
        192,
        13,
        (3.5, 3.5, 3.0, 3.5, 3.0, 3.0, 4.0, 4.0, 3.5, 4.0, 3.5, 4.0, 3.5),
        (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4, 3, 3),
    )
    assert count_params(s, cfg) == 5_867_944


def test_digest_ignores_the_name_but_not_the_geometry():
    a = get_space("mnist-cpu")
    b = SearchSpace(**{**a.to_dict(), "name": "renamed"})
    c = SearchSpace(**{**a.to_dict(), "num_classes": 11})
    assert a.digest() == b.digest() != c.digest()
