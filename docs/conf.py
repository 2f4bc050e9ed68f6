"""Sphinx configuration of the skviz site.

Build it from the repository root (the examples run while it builds)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

# The gallery draws without a screen, and imports the package of this
# checkout, not an installed copy that may be older.
matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import skviz  # noqa: E402

# The example nets are tiny: torch's intra-op threads only fight over the
# cores of a small shared machine (a CNN epoch runs several times slower
# with two threads than with one there), never speed them up. The test
# suite does the same.
torch.set_num_threads(1)

project = "skviz"
author = "skviz developers"
copyright = "skviz developers"
release = version = skviz.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# The README and the architecture page are Markdown; headings become
# anchors so that pages can link to sections.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# API pages: one page per public name, from numpydoc docstrings.
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's parameter types say it in words
# A skorch method that skviz overrides without a docstring (fit, initialize)
# is skorch's to document, not repeated here under skviz's name.
autodoc_inherit_docstrings = False
# "capture_layers()" rather than "InspectableNeuralNetClassifier.capture_layers()"
# in the page's table of contents.
toc_object_entries_show_parents = "hide"
numpydoc_show_class_members = False  # the autosummary template lists members
numpydoc_class_members_toctree = False


def _defined_outside_skviz(app, what, name, obj, skip, options):
    """Leave out members that skorch or scikit-learn define.

    The class pages list inherited members (an animation's ``save`` comes
    from its base class), but a net's ``fit``, ``score`` or
    ``set_fit_request`` are skorch's and scikit-learn's, documented there.
    """
    target = obj.fget if isinstance(obj, property) else obj
    module = getattr(target, "__module__", None)
    if what == "class" and module and not module.startswith("skviz"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _defined_outside_skviz)


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    # Sorting given by name (not as objects), so that Sphinx can cache
    # the configuration between builds.
    "subsection_order": [
        "../examples/inspect",
        "../examples/training",
        "../examples/layers",
        "../examples/sklearn",
    ],
    "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
    # The last expression of a code block is shown as its notebook HTML:
    # animations become matplotlib's JS player, DataFrames tables. Display
    # objects and matplotlib artists are drawn by the figure scraper, not
    # printed as "<... object at 0x...>".
    "capture_repr": ("_repr_html_", "__repr__"),
    "ignore_repr_types": r"matplotlib|skviz\.plot\.|NoneType",
    "doc_module": ("skviz",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skviz": None},
    "min_reported_time": 0,
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
}

html_theme = "pydata_sphinx_theme"
html_title = "skviz"
html_static_path = ["_static"]
html_css_files = ["skviz.css"]
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_show_sourcelink = True
# Pages that are read top to bottom give the width of the left navigation
# to their code (88 columns, as ruff formats the examples) and keep their
# own table of contents on the right; the gallery index and the API pages
# keep the navigation.
html_sidebars = {
    "auto_examples/*/*": [],
    "index": [],
    "hooks_to_skviz": [],
    "layers": [],
    "scale": [],
    "architecture": [],
}
