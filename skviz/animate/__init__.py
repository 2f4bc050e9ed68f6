"""Animations: weight updates on a network diagram, data moving through layers.

Submodules are imported on first use, so ``import skviz`` stays light.
"""

from importlib import import_module

# public name -> submodule that defines it
_ANIMATIONS = {
    "NetworkUpdateAnimation": "_network",
    "LayerTransformAnimation": "_layers",
}

__all__ = sorted(_ANIMATIONS)


def __getattr__(name):
    if name in _ANIMATIONS:
        return getattr(import_module(f".{_ANIMATIONS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__
