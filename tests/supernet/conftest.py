from pathlib import Path

import pytest
import torch

from hwnas.core import SearchSpace

# kept in the repository so that the parity tests run (never skip) in every clone
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "autoformer_reference_small.pt"


@pytest.fixture(scope="session")
def autoformer_reference() -> dict:
    """Reference logits of AutoFormer's own supernet code on random weights (see tests/fixtures)."""
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="session")
def reference_space(autoformer_reference) -> SearchSpace:
    kw = autoformer_reference["constructor_kwargs"]
    return SearchSpace(
        embed_dim=(64, 96, 112, 128),
        depth=(1, 2, 3),
        mlp_ratio=(2.0, 3.0, 4.0),
        num_heads=(1, 2),
        super_embed_dim=kw["embed_dim"],
        super_depth=kw["depth"],
        super_mlp_ratio=kw["mlp_ratio"],
        super_num_heads=kw["num_heads"],
        img_size=kw["img_size"],
        patch_size=kw["patch_size"],
        in_chans=kw["in_chans"],
        num_classes=kw["num_classes"],
        qkv_bias=kw["qkv_bias"],
        relative_position=kw["relative_position"],
        max_relative_position=kw["max_relative_position"],
        global_pool=kw["gp"],
        name="autoformer-reference",
    )
