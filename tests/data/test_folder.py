import numpy as np
import pytest
import torch
from PIL import Image

from hwnas.core.errors import ConfigError, NotFoundError
from hwnas.core.space import SearchSpace
from hwnas.data import ResumableSampler, batches, load_split
from hwnas.data.folder import ImageFolder, folder_splits
from hwnas.data.transforms import eval_transform


def space(classes: int = 3, chans: int = 3) -> SearchSpace:
    return SearchSpace(
        embed_dim=(16,),
        depth=(1,),
        mlp_ratio=(1.0,),
        num_heads=(1,),
        super_embed_dim=16,
        super_depth=1,
        super_mlp_ratio=1.0,
        super_num_heads=1,
        img_size=16,
        patch_size=8,
        in_chans=chans,
        num_classes=classes,
        head_dim=8,
    )


def make_folder(root, classes=("cat", "dog", "eel"), per_class=10, size=(40, 30)):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (*size[::-1], 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_flat_folder_is_split_per_class(tmp_path):
    classes, splits = folder_splits(make_folder(tmp_path / "d"))
    assert classes == ["cat", "dog", "eel"]
    assert {k: len(v) for k, v in splits.items()} == {"train": 24, "val": 3, "test": 3}
    assert sorted(label for _, label in splits["val"]) == [0, 1, 2]


def test_train_val_layout_and_tensors(tmp_path):
    make_folder(tmp_path / "d" / "train")
    make_folder(tmp_path / "d" / "val", per_class=2)
    train = load_split(str(tmp_path / "d"), "train", space(), augment=True, seed=1)
    test = load_split(str(tmp_path / "d"), "test", space())  # no test/: falls back to val/
    assert len(train) == 30 and len(test) == 6
    x, y = test[0]
    assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and y == 0
    gray = load_split(str(tmp_path / "d"), "val", space(chans=1))
    assert gray[0][0].shape == (1, 16, 16)


def test_augmentation_is_random_but_reproducible_per_epoch(tmp_path):
    train = load_split(str(make_folder(tmp_path / "d")), "train", space(), augment=True, seed=1)
    a, b = train[0][0], train[0][0]
    assert torch.equal(a, b)
    train.set_epoch(1)
    assert not torch.equal(a, train[0][0])
    assert not torch.equal(train[0][0], train[1][0])


def test_loader_batches_follow_the_sampler(tmp_path):
    train = load_split(str(make_folder(tmp_path / "d")), "train", space(), augment=True)
    sampler = ResumableSampler(train, seed=0)
    sampler.set_position(2, skip=8)
    xs, ys = zip(*batches(train, sampler, 8, drop_last=True))
    assert [x.shape[0] for x in xs] == [8, 8]
    full = ResumableSampler(train, seed=0)
    full.set_epoch(2)
    expected = [train.samples[i][1] for i in list(full)[8:24]]
    assert torch.cat(ys).tolist() == expected


def test_folder_errors(tmp_path):
    with pytest.raises(NotFoundError):
        folder_splits(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="class sub-folders"):
        folder_splits(tmp_path / "empty")
    root = make_folder(tmp_path / "d", per_class=10)
    with pytest.raises(ConfigError, match="3 classes"):
        load_split(str(root), "train", space(classes=5))
    (root / "cat" / "broken.png").write_bytes(b"not an image")
    ds = ImageFolder([(root / "cat" / "broken.png", 0)], ["cat"], eval_transform(16, (0.5,) * 3, (0.5,) * 3))
    with pytest.raises(ConfigError, match="cannot read"):
        ds[0]
