"""The README's two opening commands stay true: CI runs the second one line for line."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_readme_opens_with_the_two_commands():
    main_job, tests = _readme_commands()[:2]
    assert main_job.startswith("python3 -m venv .venv") and main_job.endswith("hwnas run")
    assert tests.startswith("python3 -m venv .venv") and "pytest" in tests


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    steps = [s.strip() for s in _readme_commands()[1].split("&&")]
    for step in steps:
        if step.startswith(". .venv"):
            continue
        assert step in ci, f"CI does not run the README step: {step}"


def test_no_placeholders_left():
    assert "__" not in "".join(re.findall(r"__[A-Z_]+__", (ROOT / "README.md").read_text()))
