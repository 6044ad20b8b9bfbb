"""MODEL.md beside a search winner and beside every export: its figures are the search report's."""

import json

import pytest
import torch

from hwnas.cli.main import main
from hwnas.core.complexity import count_macs, count_params
from hwnas.core.yaml_io import save_subnet
from hwnas.pipelines.model_card import write_search_card
from hwnas.supernet import Supernet, save_checkpoint
from tests.spaces import mnist_tiny


def _report(space, cfg) -> dict:
    """A report.json as a search writes it (the fields a card reads, with figures no code would guess)."""
    latency = {
        "budget_ms": 3.24,
        "predicted_ms": 2.7284,
        "measured_ms": 2.7628,
        "typical_ms": None,
        "visits_ms": [2.8904, 2.7206, 2.7628],
        "visits_typical_ms": None,
        "spread": 0.29,
        "status": "ok",
        "within_budget": True,
    }
    return {
        "space": space.name,
        "space_digest": space.digest(),
        "objective": "accuracy",
        "objective_note": "top-1 on the validation split with weights inherited from the supernet",
        "seed": 7,
        "settings": {"population": 6, "generations": 2},
        "subset": 100,
        "precision": "fp32",
        "constraints": ["cpu: measured <= 3.24 ms (predicted <= 2.884 ms, margin 11.0 %)"],
        "evaluated": 12,
        "winner": {
            "key": cfg.key(),
            "params": count_params(space, cfg),
            "macs": count_macs(space, cfg),
            "val_top1": 41.0,
            "test_top1": 35.8,
            "latency": {"cpu": latency},
        },
        "verification_note": "the best candidate met every budget when measured",
        "accuracy": {"split": "val", "images": 100},
    }


@pytest.fixture()
def run_folder(tmp_path):
    space, root = mnist_tiny(), tmp_path / "run"
    torch.manual_seed(0)
    save_checkpoint(Supernet(space), root / "supernet.pt", train={"data": "mnist"})
    cfg = space.min_config()
    (root / "search").mkdir()
    save_subnet(cfg, root / "search" / "winner.yaml", space)
    report = _report(space, cfg)
    (root / "search" / "report.json").write_text(json.dumps(report))
    return root, report


def _figures_of(report: dict) -> list[str]:
    w = report["winner"]
    return [
        w["key"],
        f"parameters {w['params']:,}",
        f"MACs {w['macs']:,}",
        "| val | 100 | 41.00 % | 31.9 - 50.8 % |",  # Wilson 95 % interval of 41 / 100
        "| test | 500 | 35.80 % | 31.7 - 40.1 % |",  # of 179 / 500 test images
        "| cpu | 3.240 | 2.728 | 2.763 | 2.890, 2.721, 2.763 | - | yes |",
        report["constraints"][0],
        "seed 7",
        "12 candidates scored on 100 validation images (fp32 scores)",
        report["verification_note"],
        "hwnas 0.1.0",
    ]


def test_search_card_states_the_report_figures(run_folder):
    root, report = run_folder
    card = write_search_card(root / "search", "mnist").read_text()
    for figure in _figures_of(report):
        assert figure in card, figure
    assert "- `winner.yaml`" in card
    (root / "search" / "winner.yaml").unlink()  # a search without a winner leaves no card behind
    assert write_search_card(root / "search") is None and not (root / "search" / "MODEL.md").exists()


def test_export_writes_the_card_from_the_report_beside_the_file(run_folder, capsys):
    root, report = run_folder
    assert main(["export", "--workdir", str(root), "--format", "safetensors"]) == 0
    assert "MODEL.md" in capsys.readouterr().out
    card = (root / "search" / "MODEL.md").read_text()
    for figure in _figures_of(report):
        assert figure in card, figure
    assert "- `winner.safetensors`" in card and 'hwnas.load_model("winner.safetensors")' in card


def test_an_export_without_a_report_says_what_it_knows(run_folder, tmp_path, capsys):
    root, _ = run_folder
    out = tmp_path / "elsewhere" / "max.onnx"
    assert main(["export", "--checkpoint", str(root / "supernet.pt"), "--subnet", "max", "--out", str(out)]) == 0
    card = (out.parent / "MODEL.md").read_text()
    space = mnist_tiny()
    assert f"parameters {count_params(space, space.max_config()):,}" in card
    assert "inherited from the supernet checkpoint supernet.pt" in card and "Not measured" in card
    assert "the bundled MNIST" in card  # the checkpoint's training data sets the preprocessing
