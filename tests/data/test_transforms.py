import numpy as np
import torch
from PIL import Image

from hwnas.data.transforms import eval_transform, mix_batch, one_hot, random_resized_box, train_transform


def test_random_resized_box_stays_inside_the_image():
    rng = np.random.default_rng(0)
    for _ in range(200):
        left, top, right, bottom = random_resized_box(50, 30, rng)
        assert 0 <= left < right <= 50 and 0 <= top < bottom <= 30


def test_transforms_give_normalised_tensors_of_the_right_size():
    img = Image.fromarray(np.full((30, 50, 3), 255, dtype=np.uint8))
    x = train_transform(16, (0.5,) * 3, (0.5,) * 3)(img, np.random.default_rng(0))
    assert x.shape == (3, 16, 16) and torch.allclose(x, torch.ones_like(x))
    y = eval_transform(16, (0.0,) * 3, (1.0,) * 3)(img)
    assert y.shape == (3, 16, 16)


def test_one_hot_smoothing_and_mixing_keep_distributions():
    y = torch.tensor([0, 2, 1, 2])
    t = one_hot(y, 3, smoothing=0.3)
    assert torch.allclose(t.sum(1), torch.ones(4)) and torch.isclose(t[0, 0], torch.tensor(0.8))
    x = torch.arange(4.0)[:, None, None, None].expand(4, 1, 8, 8).clone()
    for mixup, cutmix in ((0.8, 0.0), (0.0, 1.0), (0.8, 1.0)):
        mx, mt = mix_batch(x, y, 3, np.random.default_rng(1), mixup, cutmix, smoothing=0.1)
        assert mx.shape == x.shape and torch.allclose(mt.sum(1), torch.ones(4))
        # the share of the partner image in the pixels equals its weight in the targets
        lam = float((mx[0] == 0).float().mean()) if cutmix and not mixup else None
        if lam is not None:
            assert abs(float(mt[0, 0]) - (lam * 0.9 + 0.1 / 3)) < 1e-5
    same = mix_batch(x, y, 3, np.random.default_rng(1))
    assert torch.equal(same[0], x)


def test_random_affine_keeps_the_digit_and_the_background():
    from hwnas.data.bundled import mnist_split
    from hwnas.data.transforms import random_affine

    x, _ = mnist_split("val")
    x = x[:64]
    g = torch.Generator().manual_seed(0)
    a = random_affine(x, g)
    assert a.shape == x.shape and not torch.allclose(a, x)
    # the background stays the background value, and the ink is moved, not destroyed
    bg = x.amin()
    assert torch.isclose(a.amin(), bg, atol=1e-5)
    ink = (x - bg).sum(dim=(1, 2, 3))  # total ink, which a zoom of 1 +- 0.1 scales by 0.81-1.21
    moved_ink = (a - bg).sum(dim=(1, 2, 3))
    assert ((moved_ink / ink > 0.75) & (moved_ink / ink < 1.3)).all()
    # the same generator state gives the same warp; no warp at all is the identity
    assert torch.equal(a, random_affine(x, torch.Generator().manual_seed(0)))
    same = random_affine(x, g, degrees=0.0, scale=0.0, shift=0.0)
    assert torch.allclose(same, x, atol=1e-5)
