"""hwnas finetune on a tiny space: interrupted and resumed, the standalone model and its card at the end,
and bad input refused in one line with nothing earlier lost."""

import json
import shutil
import subprocess
import sys

import pytest
import torch

import hwnas
from hwnas.cli.main import main
from hwnas.core.space import SearchSpace
from hwnas.core.yaml_io import save_subnet
from hwnas.supernet import Supernet, load_supernet, save_checkpoint
from tests.spaces import mnist_tiny

FAST = ["--epochs", "1", "--batch-size", "200", "--threads", "1"]  # 20 steps of the tiny space


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A run folder with a (random) supernet of the tiny space and a winner.yaml saved with that space."""
    root = tmp_path_factory.mktemp("run")
    torch.manual_seed(0)
    save_checkpoint(Supernet(mnist_tiny()), root / "supernet.pt")
    (root / "search").mkdir()
    save_subnet(mnist_tiny().min_config(), root / "search" / "winner.yaml", mnist_tiny())
    return root


def test_finetune_interrupted_and_resumed_writes_the_model_and_its_card(run_folder, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = ["finetune", "--workdir", str(run_folder), "--out", str(out), *FAST]
    assert main([*argv, "--max-steps", "3"]) == 0
    assert "step 3/20" in capsys.readouterr().out and not (out / "model.safetensors").exists()
    assert main(argv) == 2 and "--resume" in capsys.readouterr().err  # would overwrite the checkpoint
    assert main([*argv, "--resume", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["done"] and r["step"] == 20 and r["config"]["init"].endswith("supernet.pt")
    assert [h["step"] for h in r["history"]] == [20]
    c = r["comparison"]
    assert c["images"] == 500 and c["finetuned_top1"] - c["inherited_top1"] == pytest.approx(c["diff"])
    # the model file is the fine-tuned subnet, with weights that moved away from the inherited ones
    cfg = mnist_tiny().min_config()
    tuned, _ = load_supernet(out / "finetune.pt")
    inherited, _ = load_supernet(run_folder / "supernet.pt")
    model = hwnas.load_model(out / "model.safetensors")
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(model(x), tuned.extract(cfg).eval()(x))
        assert not torch.allclose(model(x), inherited.extract(cfg).eval()(x))
    card = (out / "MODEL.md").read_text()
    assert f"{c['inherited_top1']:.2f} %" in card and f"{c['finetuned_top1']:.2f} %" in card
    assert f"{c['diff']:+.2f} points" in card and cfg.key() in card and hwnas.__version__ in card


def test_the_largest_subnet_can_teach(run_folder, tmp_path, capsys):
    out = tmp_path / "ft"
    argv = ["finetune", "--workdir", str(run_folder), "--subnet", "min", "--out", str(out), *FAST]
    assert main([*argv, "--teacher", "largest", "--max-steps", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["teacher"] == "largest"


def test_a_subnet_or_checkpoint_of_another_space_is_one_line_and_exit_2(run_folder, tmp_path, capsys):
    other = SearchSpace(**{**mnist_tiny().__dict__, "embed_dim": (16, 24), "super_embed_dim": 24, "name": "other"})
    save_subnet(other.min_config(), tmp_path / "other.yaml", other)
    save_checkpoint(Supernet(other), tmp_path / "other.pt")
    cases = [
        (["--subnet", str(tmp_path / "other.yaml")], "another search space"),
        (["--checkpoint", str(tmp_path / "other.pt")], "another search space"),
        (["--checkpoint", str(tmp_path / "other.pt"), "--subnet", "max", "--space", "mnist-cpu"], "not of"),
        (["--checkpoint", str(tmp_path / "missing.pt")], "no supernet checkpoint"),
    ]
    for extra, match in cases:
        out = tmp_path / "ft"
        assert main(["finetune", "--workdir", str(run_folder), "--out", str(out), *FAST, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hwnas finetune: error:") and err.count("\n") == 1 and match in err, err
        assert not out.exists()


def _namespaces() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _namespaces(), reason="needs a private mount namespace for a read-only bind mount")
def test_a_read_only_folder_is_refused_before_training_and_keeps_its_files(run_folder, tmp_path):
    out = tmp_path / "ft"
    out.mkdir()
    (out / "MODEL.md").write_text("an earlier card\n")
    cmd = f"{sys.executable} -m hwnas finetune --workdir {run_folder} --out {out} {' '.join(FAST)}"
    script = f"set -e; mount --bind {out} {out}; mount -o remount,ro,bind {out} {out}; set +e; {cmd}; echo rc=$?"
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    assert "rc=2" in r.stdout, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "read-only" in r.stderr.lower(), r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["MODEL.md"]
    assert (out / "MODEL.md").read_text() == "an earlier card\n"
