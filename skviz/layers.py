"""What a layer is to skviz: references, output structures, batch axes.

This module runs nothing and registers no hook (that is
:mod:`skviz.capture`'s job). It defines

* the grammar of layer references (``"dense0"``, ``"block@1"``,
  ``"lstm[1][0]"``) and their parsing,
* :class:`TensorInfo` / :class:`LayerInfo`: the structured description of
  one run of a module (type, run, calls, output structure, batch axis,
  shape of one sample), which ``layer_summary`` and every default-layer
  choice read,
* how the batch axis of an output is told from one batch,
* the checks that turn a reference and an observed output into one tensor.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

__all__ = [
    "ACTIVATIONS",
    "NONNEGATIVE_ACTIVATIONS",
    "AmbiguousBatchAxisWarning",
    "LayerInfo",
    "LayerRef",
    "TensorInfo",
    "activation_bounds",
    "ancestors_of",
    "check_module_names",
    "describe_output",
    "find_batch_axis",
    "format_ref",
    "layout_batch_axis",
    "nonnegative_output",
    "parse_layer_names",
    "resolve_activation",
    "select_path",
    "select_run",
    "select_tensor",
]

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": nn.functional.gelu,
    "leaky_relu": nn.functional.leaky_relu,
}


def activation_bounds(module: nn.Module) -> tuple[float, float] | None:
    """Asymptotes of a bounded (tanh/sigmoid-like) activation module, else None.

    ``nn.Tanh``, ``nn.Softsign``: (-1, 1); ``nn.Sigmoid``, ``nn.Hardsigmoid``:
    (0, 1); ``nn.Hardtanh`` (also ``ReLU6``): its ``(min_val, max_val)``.
    """
    if isinstance(module, nn.Tanh | nn.Softsign):
        return (-1.0, 1.0)
    if isinstance(module, nn.Sigmoid | nn.Hardsigmoid):
        return (0.0, 1.0)
    if isinstance(module, nn.Hardtanh):
        return (float(module.min_val), float(module.max_val))
    return None


#: Activation names of :data:`ACTIVATIONS` whose values are never negative.
NONNEGATIVE_ACTIVATIONS = frozenset({"relu", "sigmoid"})


def nonnegative_output(module: nn.Module) -> bool:
    """Whether a module's output is never negative by construction
    (``nn.ReLU``, ``nn.Softplus``, and bounded activations whose lower
    asymptote is >= 0: ``nn.Sigmoid``, ``nn.Hardsigmoid``, ``nn.ReLU6``)."""
    if isinstance(module, nn.ReLU | nn.Softplus):
        return True
    bounds = activation_bounds(module)
    return bounds is not None and bounds[0] >= 0


def resolve_activation(activation):
    """The callable for an activation name, a callable itself, or None."""
    if activation is None or callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown activation {activation!r}; use one of "
            f"{sorted(ACTIVATIONS)} or a callable taking and returning a tensor."
        ) from None


_REF_PATTERN = re.compile(
    r"^(?P<module>[^@\[\]]+?)(?:@(?P<call>\d+))?(?P<path>(?:\[[^\[\]]+\])*)$"
)
_PATH_ITEM = re.compile(r"\[([^\[\]]+)\]")


@dataclass(frozen=True)
class LayerRef:
    """A parsed layer reference.

    Grammar: ``NAME[@CALL][[KEY]]...`` where ``NAME`` is a dotted name from
    ``named_modules()``, ``@CALL`` selects the CALL-th (0-based) run of a
    module that runs several times per forward, and each ``[KEY]`` indexes
    into a tuple/list (integer KEY) or dict (string KEY, quotes optional)
    output. Examples: ``"dense0"``, ``"block@1"``, ``"lstm[0]"``,
    ``"lstm[1][0]"`` (LSTM's ``h_n``), ``"attn['weights']"``.
    """

    text: str
    module: str
    call: int | None = None
    path: tuple[int | str, ...] = ()

    @classmethod
    def parse(cls, text: str, known: Sequence[str] | None = None) -> LayerRef:
        """Parse ``text``; ``known`` module names win over the grammar.

        A module may be named with ``@`` or brackets (``nn.ModuleDict``
        keys are free text): with ``known`` given, a text that is a known
        name is that module, and otherwise the longest known name that the
        text starts with, followed by a run and index suffix, is.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"A layer name must be a non-empty string, got {text!r}.")
        text = text.strip()
        if known is not None:
            found = _parse_known(text, known)
            if found is not None:
                return found
        match = _REF_PATTERN.match(text)
        if match is None:
            raise ValueError(
                f"Cannot parse layer reference {text!r}. Expected NAME, NAME@CALL "
                "or NAME[INDEX]..., e.g. 'dense0', 'block@1', 'lstm[1][0]'."
            )
        return cls._build(text, match.group("module"), match)

    @classmethod
    def _build(cls, text: str, module: str, match) -> LayerRef:
        call = match.group("call")
        path = tuple(
            _path_key(item) for item in _PATH_ITEM.findall(match.group("path"))
        )
        return cls(
            text=text,
            module=module,
            call=None if call is None else int(call),
            path=path,
        )


_SUFFIX_PATTERN = re.compile(r"^(?:@(?P<call>\d+))?(?P<path>(?:\[[^\[\]]+\])*)$")


def _parse_known(text: str, known: Sequence[str]) -> LayerRef | None:
    if text in known:
        return LayerRef(text=text, module=text)
    best = None
    for name in known:
        if len(name) < len(text) and text.startswith(name):
            match = _SUFFIX_PATTERN.match(text[len(name) :])
            if match is not None and (best is None or len(name) > len(best[0])):
                best = (name, match)
    if best is None:
        return None
    return LayerRef._build(text, *best)


def _path_key(item: str) -> int | str:
    item = item.strip()
    if re.fullmatch(r"-?\d+", item):
        return int(item)
    return item.strip("'\"")


def format_ref(module: str, call: int | None, path: Sequence[int | str]) -> str:
    text = module if call is None else f"{module}@{call}"
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else f"['{key}']"
    return text


def check_module_names(names: Sequence[str], known: Sequence[str]) -> None:
    """Raise ``ValueError`` naming close matches for names not in ``known``."""
    known_set = set(known)
    for name in names:
        if name in known_set:
            continue
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown layer {name!r}.{hint} Call net.layer_names() to list all "
            f"{len(known)} layers."
        )


def parse_layer_names(
    names: Sequence[str], known: Callable[[], Sequence[str]], *, if_str: str
) -> list[LayerRef]:
    """References for a list of layer names, checked before any work.

    Refuses a single str (``if_str`` ends the message) and an empty list
    before it asks ``known()`` for the net's layer names (which fails for
    an unfitted net), then two names for one layer and unknown layers (see
    :func:`check_module_names`).
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a list of layer names{if_str}")
    names = list(names)
    if not names:
        raise ValueError("names is empty; pass at least one layer name.")
    known = known()
    refs = [LayerRef.parse(n, known) for n in names]
    texts = [r.text for r in refs]
    if len(set(texts)) != len(texts):
        raise ValueError(f"names contains duplicates: {names}.")
    check_module_names([r.module for r in refs], known)
    return refs


# --------------------------------------------------------------------------
# Batch axes
# --------------------------------------------------------------------------


# Modules whose input and output are (batch, channels, *spatial) by definition.
_BATCH_FIRST_BY_DEFINITION = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.GroupNorm,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
)


def _declared_batch_axis(module: nn.Module, path: Sequence[int | str]) -> int | None:
    """The batch axis that a module's documented layout gives the tensor at
    ``path``; None when the module declares no layout.

    Recurrent layers keep ``h_n``/``c_n`` batch-second whatever
    ``batch_first`` says; attention weights are batch-first; everything
    else follows its ``batch_first`` flag.
    """
    if isinstance(module, nn.RNNBase):
        if path and path[0] == 1:
            return 1
        return 0 if module.batch_first else 1
    if isinstance(module, nn.MultiheadAttention):
        if path and path[0] == 1:
            return 0
        return 0 if module.batch_first else 1
    if isinstance(module, nn.TransformerEncoderLayer | nn.TransformerDecoderLayer):
        return 0 if module.self_attn.batch_first else 1
    if isinstance(module, nn.TransformerEncoder | nn.TransformerDecoder):
        first = module.layers[0] if len(module.layers) else None
        return 0 if first is None or first.self_attn.batch_first else 1
    if isinstance(module, _BATCH_FIRST_BY_DEFINITION):
        return 0
    flag = getattr(module, "batch_first", None)
    if isinstance(flag, bool):
        return 0 if flag else 1
    return None


def layout_batch_axis(
    module: nn.Module, path: Sequence[int | str], ancestors: Sequence[nn.Module] = ()
) -> int | None:
    """The batch axis a documented layout gives, for when several axes have
    the batch's size; None when nothing documents one.

    The module's own layout; else that of its nearest ancestor that
    documents one (a Linear inside a ``batch_first=False`` encoder layer
    sees the encoder's layout).
    """
    axis = _declared_batch_axis(module, path)
    for ancestor in ancestors:
        if axis is not None:
            break
        axis = _declared_batch_axis(ancestor, ())
    return axis


def ancestors_of(
    named: Mapping[str, nn.Module], names: Sequence[str]
) -> dict[str, tuple[nn.Module, ...]]:
    """The containing modules of each named module, nearest first (root excluded)."""
    result = {}
    for name in names:
        parts = name.split(".")
        prefixes = (".".join(parts[:k]) for k in range(len(parts) - 1, 0, -1))
        result[name] = tuple(named[p] for p in prefixes if p in named)
    return result


def find_batch_axis(
    shape: Sequence[int], rows: int, preferred: int = 0
) -> tuple[int | None, bool]:
    """Which axis of an output of a batch of ``rows`` samples holds the samples.

    Returns ``(axis, several)``. ``axis`` is None when no axis has ``rows``
    entries (the output does not depend on the batch). When several axes
    have ``rows`` entries, one batch cannot tell them apart: ``preferred``
    wins if it is one of them, else the first, and ``several`` is True.
    """
    candidates = [d for d, size in enumerate(shape) if size == rows]
    if not candidates:
        return None, False
    if len(candidates) == 1:
        return candidates[0], False
    return (preferred if preferred in candidates else candidates[0]), True


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a layer's output, as seen on a batch of samples.

    Attributes
    ----------
    shape : tuple of int
        The whole shape, batch axis included.
    batch_axis : int or None
        The axis that holds the samples; None when the tensor does not
        depend on the batch.
    dtype : torch.dtype
    guessed : bool
        Several axes of a 3-D output had the batch's size and nothing
        documented which holds the samples: ``batch_axis`` is axis 0 by
        convention (see :func:`layout_batch_axis`). Outputs of other ranks
        are batch-first by convention, which no common layout breaks.
    """

    shape: tuple[int, ...]
    batch_axis: int | None
    dtype: torch.dtype
    guessed: bool = False

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """The shape of one sample's part, or None without a batch axis."""
        if self.batch_axis is None:
            return None
        return self.shape[: self.batch_axis] + self.shape[self.batch_axis + 1 :]

    def describe(self) -> str:
        """``"(None, 20)"``: the shape with ``None`` at the batch axis."""
        dims = [
            "None" if d == self.batch_axis else str(s) for d, s in enumerate(self.shape)
        ]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


class AmbiguousBatchAxisWarning(UserWarning):
    """No batch could tell which axis of an output holds the samples.

    Every batch had as many samples as another axis of the output has
    entries, and the module documents no layout: the samples were taken
    from axis 0, by convention.
    """


#: How a ``PackedSequence`` appears in an output's structure.
PACKED = "PackedSequence"


def describe_output(
    output: Any,
    rows: int,
    module: nn.Module,
    path: tuple = (),
    hints=None,
    ancestors: Sequence[nn.Module] = (),
) -> Any:
    """Mirror of a module output: a :class:`TensorInfo` for every tensor.

    Tuples and lists become tuples, mappings dicts; anything else its type
    name. ``hints`` maps a path to a batch axis known from an earlier batch
    that could tell; ``ancestors`` (nearest first) lend their layout where
    the module declares none (see :func:`layout_batch_axis`).
    """
    if isinstance(output, PackedSequence):
        # A tuple too, but its rows are the time steps of all samples packed
        # together, and its index tensors are permutations: nothing in it is
        # one row per sample.
        return PACKED
    if isinstance(output, torch.Tensor):
        known = (hints or {}).get(path)
        if known is None:
            known = layout_batch_axis(module, path, ancestors)
        axis, several = find_batch_axis(
            output.shape, rows, 0 if known is None else known
        )
        # A documented layout or an earlier batch decides a tie for sure.
        # Otherwise batch-first is a convention, which only 3-D outputs
        # commonly break: (steps, batch, features) of time-major sequences.
        guessed = several and axis != known and output.dim() == 3
        return TensorInfo(tuple(output.shape), axis, output.dtype, guessed)
    if isinstance(output, tuple | list):
        return tuple(
            describe_output(o, rows, module, (*path, i), hints, ancestors)
            for i, o in enumerate(output)
        )
    if isinstance(output, Mapping):
        return {
            k: describe_output(v, rows, module, (*path, k), hints, ancestors)
            for k, v in output.items()
        }
    return type(output).__name__


def _tensor_paths(
    struct: Any, prefix: tuple = ()
) -> Iterator[tuple[tuple, TensorInfo]]:
    if isinstance(struct, TensorInfo):
        yield prefix, struct
    elif isinstance(struct, tuple):
        for i, s in enumerate(struct):
            yield from _tensor_paths(s, (*prefix, i))
    elif isinstance(struct, dict):
        for k, s in struct.items():
            yield from _tensor_paths(s, (*prefix, k))


def _describe_struct(struct: Any) -> str:
    if isinstance(struct, TensorInfo):
        return struct.describe()
    if isinstance(struct, tuple):
        return "(" + ", ".join(_describe_struct(s) for s in struct) + ")"
    if isinstance(struct, dict):
        inner = ", ".join(f"{k!r}: {_describe_struct(s)}" for k, s in struct.items())
        return "{" + inner + "}"
    return str(struct)


def select_path(obj: Any, path: Sequence[int | str]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@dataclass(frozen=True)
class LayerInfo:
    """One run of one submodule during a forward pass.

    Attributes
    ----------
    name : str
        The module's dotted name in ``named_modules()``.
    type : str
        The module's class name.
    call : int
        Which run of the module this is (0-based).
    calls : int
        How many times the module ran in the forward pass.
    is_leaf : bool
        The module has no submodules.
    output : TensorInfo, tuple, dict or str
        The output's structure (see :func:`describe_output`).
    """

    name: str
    type: str
    call: int
    calls: int
    is_leaf: bool
    output: Any

    @property
    def ref(self) -> str:
        """The reference that selects this run: ``"fc1"``, or ``"act@1"``."""
        return format_ref(self.name, None if self.calls == 1 else self.call, ())

    @property
    def is_tensor(self) -> bool:
        """The output is one tensor (not a tuple, list or dict)."""
        return isinstance(self.output, TensorInfo)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """Shape of one sample's output; None unless one batched tensor."""
        return self.output.sample_shape if self.is_tensor else None

    def tensors(self) -> dict[str, TensorInfo]:
        """Every tensor of the output, keyed by the reference that selects it."""
        call = None if self.calls == 1 else self.call
        return {
            format_ref(self.name, call, path): info
            for path, info in _tensor_paths(self.output)
        }

    def describe(self) -> str:
        """The output's shapes, ``None`` at each batch axis."""
        return _describe_struct(self.output)


def select_run(ref: LayerRef, calls: int) -> int:
    """The run that ``ref`` selects, given that its module ran ``calls`` times."""
    if calls == 0:
        raise ValueError(
            f"Layer {ref.module!r} exists but did not run during a forward pass, "
            "so it has no output to capture."
        )
    if ref.call is None and calls > 1:
        options = ", ".join(repr(f"{ref.module}@{i}") for i in range(calls))
        raise ValueError(
            f"Layer {ref.module!r} runs {calls} times per forward pass; say which "
            f"run you want: {options}."
        )
    call = 0 if ref.call is None else ref.call
    if call >= calls:
        raise ValueError(
            f"Layer {ref.module!r} runs {calls} time(s) per forward pass; "
            f"{ref.text!r} asks for run {call} (runs are numbered from 0)."
        )
    return call


def _select_or_none(struct: Any, path: Sequence[int | str]) -> Any:
    try:
        return select_path(struct, path)
    except (KeyError, IndexError, TypeError):
        return None


def select_tensor(ref: LayerRef, struct: Any, rows: int) -> TensorInfo:
    """The tensor that ``ref``'s index path selects in an output's structure."""
    try:
        info = select_path(struct, ref.path)
    except (KeyError, IndexError, TypeError):
        info = None
    packed = [
        ref.path[:k]
        for k in range(len(ref.path) + 1)
        if _select_or_none(struct, ref.path[:k]) == PACKED
    ]
    if packed:
        where = format_ref(ref.module, ref.call, packed[0])
        others = [format_ref(ref.module, ref.call, p) for p, _ in _tensor_paths(struct)]
        hint = f" Capture {', '.join(map(repr, others))} instead, or" if others else ""
        raise ValueError(
            f"{where!r} is a PackedSequence: variable-length sequences packed "
            "together, whose rows are time steps of all samples, not one per "
            f"sample.{hint} unpack it with pad_packed_sequence in forward() and "
            "capture the module that receives the padded tensor."
        )
    if not isinstance(info, TensorInfo):
        what = _describe_struct(struct)
        leaves = [p for p, _ in _tensor_paths(struct)]
        if not leaves:
            raise ValueError(
                f"Layer {ref.text!r} returns {what}, which holds no tensor to capture."
            )
        choices = ", ".join(repr(format_ref(ref.module, ref.call, p)) for p in leaves)
        here = format_ref(ref.module, ref.call, ())
        raise ValueError(
            f"Layer {here!r} returns {what}; {ref.text!r} does not select one "
            f"tensor of it. Choose one of: {choices}."
        )
    if info.batch_axis is None:
        raise ValueError(
            f"The output {ref.text!r} has shape {info.shape} for a batch of {rows} "
            "samples: no axis holds one entry per sample, so it cannot be split "
            "into one row per sample."
        )
    return info
