"""Small search spaces that fit the bundled MNIST (28x28, 1 channel, 10 classes) and train in
milliseconds per step, shared by the tests that train or score a real supernet."""

from __future__ import annotations

from hwnas.core.space import SearchSpace


def mnist_tiny(embed_dim: tuple[int, ...] = (16, 32), head_dim: int = 8) -> SearchSpace:
    """Depth 1-2, MLP ratio 1-2, 1-2 heads of ``head_dim``; patch 7 (16 tokens)."""
    return SearchSpace(
        embed_dim=embed_dim,
        depth=(1, 2),
        mlp_ratio=(1.0, 2.0),
        num_heads=(1, 2),
        super_embed_dim=max(embed_dim),
        super_depth=2,
        super_mlp_ratio=2.0,
        super_num_heads=2,
        img_size=28,
        patch_size=7,
        in_chans=1,
        num_classes=10,
        head_dim=head_dim,
        max_relative_position=4,
        name="tiny",
    )
