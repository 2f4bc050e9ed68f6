"""Write the README's pictures into ``docs/images/`` from the gallery scripts.

Each picture is made by running a gallery example exactly as the site runs
it and saving one of its figures (by the order in which the example opens
them) or one of its animations (by variable name), small enough for a
README: PNGs at a low dpi, GIFs under 1 MB. Run from the repository root
after changing an example or a default that changes a picture::

    python docs/make_readme_images.py

It prints each file with its size and the title of the saved figure, so
that a figure that moved in an example is noticed.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import torch

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
IMAGES = ROOT / "docs" / "images"

# example -> [(figure number in the order the example opens them, or the
# name of an animation variable; file name; save options)]
PICTURES = {
    "inspect/plot_activations.py": [(1, "activations.png", {"dpi": 80})],
    "inspect/plot_cnn_feature_maps.py": [(1, "feature_maps.png", {"dpi": 60})],
    "training/plot_training_curves.py": [(1, "training_curves.png", {"dpi": 70})],
    "training/plot_weight_updates.py": [
        ("anim", "weight_updates.gif", {"dpi": 60, "fps": 4})
    ],
    "training/plot_unit_fates.py": [(1, "unit_fates.png", {"dpi": 80})],
    "layers/plot_layer_transformation.py": [
        ("anim", "layer_transformation.gif", {"dpi": 80, "fps": 8})
    ],
    "sklearn/plot_pipeline_search.py": [(1, "pipeline_search.png", {"dpi": 70})],
    "layers/plot_representations.py": [(2, "representations.png", {"dpi": 70})],
}


def _title(fig) -> str:
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes]
    titles = [t for t in titles if t]
    return (titles or ["(no title)"])[0].replace("\n", " ")


def make(example: str, pictures) -> None:
    plt.close("all")
    namespace = runpy.run_path(str(EXAMPLES / example), run_name="__main__")
    figures = [plt.figure(n) for n in plt.get_fignums()]
    for which, name, options in pictures:
        path = IMAGES / name
        if isinstance(which, int):
            fig = figures[which - 1]
            fig.savefig(path, **options)
            what = _title(fig)
        else:
            namespace[which].save(path, progress=False, **options)
            what = f"{namespace[which].n_frames_} frames"
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes ({what})")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    torch.set_num_threads(1)  # tiny nets; as in docs/conf.py
    IMAGES.mkdir(exist_ok=True)
    for example, pictures in PICTURES.items():
        make(example, pictures)


if __name__ == "__main__":
    main()
