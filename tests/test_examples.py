"""The gallery scripts keep the rules that make them copyable.

The scripts themselves run in the site build (``sphinx-build -W`` in CI,
where a failing example fails the build); these checks are the ones a
reader relies on and a build does not see: a sphinx-gallery header, a seed,
the public API only, nothing outside the script, and a place in the
gallery.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*/plot_*.py"))


def _ids(path: Path) -> str:
    return str(path.relative_to(EXAMPLES))


def test_there_is_a_gallery():
    assert len(SCRIPTS) >= 7
    assert (EXAMPLES / "GALLERY_HEADER.rst").is_file()


@pytest.mark.parametrize("folder", sorted({p.parent for p in SCRIPTS}), ids=_ids)
def test_every_section_has_a_header_and_a_place(folder):
    assert (folder / "GALLERY_HEADER.rst").is_file()
    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert f'"../examples/{folder.name}"' in conf, (
        "list the folder in docs/conf.py's subsection_order"
    )


@pytest.mark.parametrize("script", SCRIPTS, ids=_ids)
def test_example_is_a_gallery_page(script):
    source = script.read_text(encoding="utf-8")
    tree = ast.parse(source)
    doc = ast.get_docstring(tree, clean=False)
    assert doc is not None, "starts with the page's reST header"
    title, underline = doc.strip("\n").splitlines()[:2]
    assert set(underline) == {"="} and len(underline) >= len(title)
    assert "# %%" in source, "split into cells"
    assert "argparse" not in source and "__main__" not in source, "not a CLI"


@pytest.mark.parametrize("script", SCRIPTS, ids=_ids)
def test_example_is_self_contained_and_seeded(script):
    source = script.read_text(encoding="utf-8")
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            module = node.module or ""
            assert module.split(".")[0] != "tests", "copyable without the test suite"
            if module.split(".")[0] == "skviz":
                parts = module.split(".") + [a.name for a in node.names]
                private = [p for p in parts if p.startswith("_")]
                assert not private, f"public API only: {module} {private}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert not any(p.startswith("_") for p in alias.name.split("."))
                assert alias.name.split(".")[0] != "tests"
        elif isinstance(node, ast.Name):
            assert node.id != "__file__", "reads nothing next to the script"
    assert "sys.path" not in source
    # Every example trains a net: one seed before it makes the page the same
    # on every build.
    assert re.search(r"torch\.manual_seed\(", source)
