"""Fixtures shared by the test packages."""

import pytest

from hwnas.core.space import SearchSpace


@pytest.fixture(scope="session")
def tiny_space() -> SearchSpace:
    """A space whose subnets export in a fraction of a second (latency work needs no real size)."""
    return SearchSpace(
        embed_dim=(16, 32),
        depth=(1, 2),
        mlp_ratio=(1.0, 2.0),
        num_heads=(1, 2),
        super_embed_dim=32,
        super_depth=2,
        super_mlp_ratio=2.0,
        super_num_heads=2,
        img_size=8,
        patch_size=4,
        in_chans=1,
        num_classes=3,
        head_dim=8,
        max_relative_position=4,
        name="tiny",
    )


@pytest.fixture(autouse=True)
def own_host_memory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test remembers ladder batches in its own folder, never in the user's cache."""
    monkeypatch.setenv("HWNAS_HOSTS_DIR", str(tmp_path_factory.mktemp("hosts")))
