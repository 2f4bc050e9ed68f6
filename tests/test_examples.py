"""The example scripts run end to end and write their figures (smoke tests)."""

import re
import runpy
from pathlib import Path

from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(script: str, out: Path, *args: str) -> dict:
    main = runpy.run_path(str(EXAMPLES / script))["main"]
    return main(["--out", str(out), *args])


def _check_pngs(paths: dict, expected: set[str]) -> None:
    assert set(paths) == expected
    for path in paths.values():
        with Image.open(path) as img:
            assert img.format == "PNG"
            width, height = img.size
            assert 300 <= width <= 3000 and 150 <= height <= 3000


def test_wine_activations_example(tmp_path, capsys):
    paths = _run("wine_activations.py", tmp_path, "--epochs", "15")
    _check_pngs(
        paths,
        {
            "activation",
            "dead_units",
            "weights",
            "misclassified",
            "class_profile",
            "training_curves",
        },
    )
    out = capsys.readouterr().out
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", out).group(1))
    assert accuracy > 0.85
    assert "units that never fire for any class:" in out
    assert all(p.name.startswith("wine_") for p in paths.values())


def test_digits_cnn_feature_maps_example(tmp_path, capsys):
    paths = _run("digits_cnn_feature_maps.py", tmp_path, "--epochs", "6")
    _check_pngs(paths, {"dead_units", "feature_maps", "kernels", "training_curves"})
    out = capsys.readouterr().out
    assert "cnn1" in out and "pool1" in out  # the layer summary
    assert "dead units per layer:" in out
    accuracy = float(re.search(r"accuracy\s+([\d.]+)", out).group(1))
    assert accuracy > 0.8


def _check_gif(path: Path, min_frames: int) -> None:
    with Image.open(path) as img:
        assert img.format == "GIF"
        assert img.n_frames >= min_frames


def test_digits_weight_updates_example(tmp_path, capsys):
    paths = _run(
        "digits_weight_updates.py", tmp_path, "--frames", "3", "--max-units", "10"
    )
    pngs = {k: v for k, v in paths.items() if k not in {"gif", "recording"}}
    _check_pngs(
        pngs, {"trajectories", "update_histogram", "relative_updates", "weight_ridges"}
    )
    _check_gif(paths["gif"], 3)
    assert paths["recording"].suffix == ".npz"


def test_circles_layer_animation_example(tmp_path, capsys):
    paths = _run(
        "circles_layer_animation.py",
        tmp_path,
        "--epochs",
        "30",
        "--frames-per-transition",
        "2",
        "--hold-frames",
        "0",
        "--no-progress",
    )
    _check_pngs({"filmstrip": paths["filmstrip"]}, {"filmstrip"})
    _check_gif(paths["gif"], 8)
    out = capsys.readouterr().out
    assert all(f"{name}: training accuracy" in out for name in ("tanh", "ReLU", "GELU"))
