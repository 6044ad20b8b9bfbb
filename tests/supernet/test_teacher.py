import pytest
import torch
from torch.utils.data import TensorDataset

from hwnas.core.errors import ConfigError
from hwnas.data.bundled import mnist_split
from hwnas.supernet.checkpoint import load_supernet
from hwnas.supernet.evaluate import evaluate
from hwnas.supernet.teacher import SmallCNN, teacher_probs, train_teacher
from hwnas.supernet.train import TrainConfig, train_supernet

from .test_train import tiny


def test_the_cnn_teacher_learns_the_bundled_digits_in_one_epoch():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = train_teacher(TensorDataset(*mnist_split("train")), 1, 10, seed=0, epochs=1)
    finally:
        torch.set_num_threads(threads)
    assert not net.training
    x, y = mnist_split("val")
    assert evaluate(net, None, [(x, y)])["top1"] > 85.0
    probs = teacher_probs(net, x[:8])
    assert probs.shape == (8, 10) and torch.allclose(probs.sum(-1), torch.ones(8)) and not probs.requires_grad


def test_the_teacher_fits_any_image_size():
    net = SmallCNN(3, 7).eval()
    assert net(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    assert net(torch.randn(2, 3, 24, 24)).shape == (2, 7)


def test_teacher_weight_blends_the_labels_and_the_teacher(tmp_path):
    def run(name: str, **over):
        cfg = TrainConfig(
            threads=1, epochs=1, batch_size=400, largest_first=0.99, eval_every=0, precision="fp32", **over
        )
        r = train_supernet(tiny(), "mnist", tmp_path / name, cfg, max_steps=3)  # the blend shows from step 1
        return r, load_supernet(tmp_path / name, tiny())[0].state_dict()

    _, labels_only = run("a.pt", teacher="none")
    _, muted = run("b.pt", teacher="cnn", teacher_epochs=1, teacher_weight=0.0)
    r, guided = run("c.pt", teacher="cnn", teacher_epochs=1, teacher_weight=0.5)
    assert all(torch.equal(labels_only[k], muted[k]) for k in labels_only)
    assert not all(torch.equal(labels_only[k], guided[k]) for k in labels_only)
    assert r.teacher_val_top1 > 85.0 and r.config.teacher == "cnn"


@pytest.mark.parametrize("bad", [dict(teacher="resnet"), dict(teacher_weight=1.5), dict(teacher_epochs=0)])
def test_bad_teacher_settings_are_config_errors(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        TrainConfig(**bad).check()
