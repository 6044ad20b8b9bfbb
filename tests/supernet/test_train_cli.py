import json

from hwnas.cli.main import main
from hwnas.core.yaml_io import save_space, save_subnet
from tests.spaces import mnist_tiny as tiny


def test_train_then_eval_from_the_command_line(tmp_path, capsys):
    space = tmp_path / "tiny.yaml"
    save_space(tiny(), space)
    work = tmp_path / "run"
    argv = [
        "train",
        "--space",
        str(space),
        "--epochs",
        "1",
        "--batch-size",
        "200",
        "--max-steps",
        "3",
        "--threads",
        "1",
        "--teacher",
        "cnn",
        "--teacher-epochs",
        "1",
        "--workdir",
        str(work),
    ]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "wrote" in out and "step 3/20" in err  # plain progress lines when not on a terminal
    assert "CNN teacher val top1" in out
    assert (work / "supernet.pt").is_file()
    assert main(argv) == 2 and "--resume" in capsys.readouterr().err  # would overwrite
    assert main(argv[:-8] + ["--max-steps", "5", "--resume", "--workdir", str(work)]) == 0
    capsys.readouterr()
    subnet = tmp_path / "sub.yaml"
    save_subnet(tiny().min_config(), subnet)
    for spec in ("max", str(subnet)):
        assert main(["eval", "--workdir", str(work), "--subnet", spec, "--split", "test", "--json"]) == 0
        r = json.loads(capsys.readouterr().out)
        assert r["n"] == 500 and 0 <= r["top1"] <= 100 and r["split"] == "test"


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["eval", "--checkpoint", str(tmp_path / "none.pt"), "--subnet", "max"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hwnas eval: error:") and err.count("\n") == 1
    assert main(["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s.pt")]) == 2
    assert "image folder" in capsys.readouterr().err
