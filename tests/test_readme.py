"""The README is the front door: its commands, pictures and first example work."""

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
IMAGES = ROOT / "docs" / "images"


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL)
    return [line.strip() for block in blocks for line in block.splitlines()]


def test_the_two_commands_are_there_and_ci_runs_the_test_command():
    lines = _shell_lines()
    assert "python -m skviz demo --out skviz-demo" in lines
    assert "python -m pytest" in lines
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "python -m pytest" in [line.strip() for line in ci]


def test_every_picture_exists_is_small_and_is_used():
    shown = set(re.findall(r'src="docs/images/([^"]+)"', README))
    shown |= set(re.findall(r"\]\(docs/images/([^)]+)\)", README))
    on_disk = {p.name for p in IMAGES.iterdir()}
    assert shown <= on_disk, f"missing: {shown - on_disk}"
    assert on_disk <= shown, f"not used by the README: {on_disk - shown}"
    for name in on_disk:
        assert (IMAGES / name).stat().st_size < 1_000_000, name


@pytest.mark.slow
def test_the_first_example_runs():
    # The one complete example (the others build on it or on the gallery);
    # it must run as printed.
    code = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)[0]
    namespace: dict = {}
    try:
        exec(compile(code, "README.md", "exec"), namespace)
    finally:
        plt.close("all")
    assert namespace["A"].shape == (54, 20)
