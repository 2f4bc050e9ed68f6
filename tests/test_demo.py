"""``python -m skviz demo``: the wine example end to end."""

import subprocess
import sys

import matplotlib.pyplot as plt
import pytest
from PIL import Image

from skviz.__main__ import main


@pytest.mark.slow
def test_demo_writes_pngs_and_reports(tmp_path, capsys):
    out = tmp_path / "figures"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out

    names = ["dense0_5_samples.png", "dense0_test_set.png", "dense1_test_set.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        path = out / name
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"
        with Image.open(path) as image:
            width, height = image.size
            assert width >= 500 and height >= 300
        assert str(path) in text

    accuracy = float(text.split("Test accuracy: ")[1].split()[0])
    assert 0.8 <= accuracy <= 1.0
    assert "dense0: " in text and "dense1: " in text
    assert "Dead units" in text
    # The demo closes what it draws.
    assert plt.get_fignums() == []


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "demo" in capsys.readouterr().out


def test_bad_epochs_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--epochs", "0"])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err


def test_module_entry_point_help():
    result = subprocess.run(
        [sys.executable, "-m", "skviz", "demo", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--out DIR" in result.stdout
