"""Animations: weight updates on a network diagram, data moving through layers.

Both share one base (``_movie``): the same ``save``, ``to_jshtml``, ``fps``,
``dpi``, ``progress``, frame indices and figure rule.

Submodules are imported on first use, so ``import skviz`` stays light.
"""

from importlib import import_module

# public name -> submodule that defines it
_ANIMATIONS = {
    "NetworkUpdateAnimation": "_network",
    "LayerTransformAnimation": "_layers",
    "update_colors": "_update_colors",
    "update_thresholds": "_update_colors",
}

__all__ = sorted(_ANIMATIONS)


def __getattr__(name):
    if name in _ANIMATIONS:
        return getattr(import_module(f".{_ANIMATIONS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
