"""Warnings during a command are one line on stderr, and the process's warning hook is untouched after it."""

import warnings

from hwnas.cli import devices_cmd
from hwnas.cli.main import main


def test_a_warning_is_one_line_during_the_command_and_the_hook_is_back_after(monkeypatch, capsys):
    def warns(args):
        warnings.warn("calibration uses 8 images", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(devices_cmd, "run", warns)
    before = warnings.showwarning
    assert main(["devices"]) == 0
    assert capsys.readouterr().err == "hwnas: warning: calibration uses 8 images\n"
    assert warnings.showwarning is before
