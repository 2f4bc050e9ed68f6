"""``net.plot_*`` show and forward the real parameters of their displays.

Each method lists its display's keywords in its own signature, so that
``help(net.plot_kernels)`` and the API pages show ``scale=``, ``max_out=``...
instead of ``**kwargs``. These tests keep the two in step: a keyword added,
removed or given another default in a display fails here until the method
follows.
"""

import inspect

import pytest

from skviz import InspectableNeuralNetClassifier, reports, represent
from skviz import plot as displays

KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD
POSITIONAL = (
    inspect.Parameter.POSITIONAL_ONLY,
    inspect.Parameter.POSITIONAL_OR_KEYWORD,
)

# method -> (display, the functions its from_estimator's **kwargs flow into,
# in order, as the displays' docstrings say). A chain stops at the first
# function without **kwargs.
CHAINS = {
    "plot_activation": ("ActivationDisplay", []),
    "plot_dead_units": ("DeadUnitsDisplay", []),
    "plot_weights": ("WeightHeatmapDisplay", ["from_weights", "__init__"]),
    "plot_kernels": ("KernelGridDisplay", ["from_weights", "__init__"]),
    "plot_feature_maps": ("FeatureMapDisplay", []),
    "plot_misclassified": ("MisclassifiedDisplay", ["plot"]),
    "plot_class_profile": ("ClassProfileDisplay", ["plot"]),
    "plot_training_curves": ("TrainingCurvesDisplay", ["plot"]),
    "plot_cka": ("CKADisplay", []),
    "plot_embedding": ("EmbeddingDisplay", []),
}

# plot_activation takes the layer first, as ``name`` and required (the
# display's ``layer=None`` only raises), and may omit X and y to reuse the
# samples of the latest inspection call.
RENAMED = {"plot_activation": {"name": "layer"}}
OWN_DEFAULTS = {"plot_activation": {"layer", "X", "y"}}


def _params(fn) -> list[inspect.Parameter]:
    return [
        p
        for p in inspect.signature(fn).parameters.values()
        if p.name not in {"self", "cls", "net"}
    ]


def display_parameters(display_name: str, chain: list[str]):
    """Positional names and keyword defaults a net's method must offer.

    Starts from ``from_estimator`` (without ``net``) and follows its
    ``**kwargs`` down ``chain``, taking the keyword-only parameters of each
    function that ``from_estimator`` does not set itself.
    """
    display = getattr(displays, display_name)
    params = _params(display.from_estimator)
    positional = [p.name for p in params if p.kind in POSITIONAL]
    keywords = {p.name: p.default for p in params if p.kind is KEYWORD_ONLY}
    taken = set(positional) | set(keywords)
    has_kwargs = any(p.kind is VAR_KEYWORD for p in params)
    for step in chain:
        if not has_kwargs:
            break
        params = _params(getattr(display, step))
        for p in params:
            if p.kind is KEYWORD_ONLY and p.name not in taken:
                keywords[p.name] = p.default
                taken.add(p.name)
        has_kwargs = any(p.kind is VAR_KEYWORD for p in params)
    assert not has_kwargs, (
        f"{display_name}.from_estimator passes **kwargs further than "
        f"{chain}: add the next function to CHAINS"
    )
    return positional, keywords


@pytest.mark.parametrize("method", sorted(CHAINS))
def test_method_parameters_equal_the_display(method):
    display_name, chain = CHAINS[method]
    positional, keywords = display_parameters(display_name, chain)
    fn = getattr(InspectableNeuralNetClassifier, method)
    params = _params(fn)
    assert not any(p.kind is VAR_KEYWORD for p in params), f"{method} takes **kwargs"

    renamed = RENAMED.get(method, {})
    own_positional = [
        renamed.get(p.name, p.name) for p in params if p.kind in POSITIONAL
    ]
    assert sorted(own_positional) == sorted(positional)
    own_keywords = {p.name: p.default for p in params if p.kind is KEYWORD_ONLY}
    assert own_keywords == keywords

    # Positional parameters with a default keep the display's default.
    defaults = {
        p.name: p.default
        for p in _params(getattr(displays, display_name).from_estimator)
    }
    for p in params:
        name = renamed.get(p.name, p.name)
        if p.kind in POSITIONAL and name not in OWN_DEFAULTS.get(method, ()):
            assert p.default == defaults[name], (method, p.name)


def test_dead_units_report_parameters_equal_the_function():
    method = _params(InspectableNeuralNetClassifier.dead_units_report)
    function = _params(reports.dead_units_report)
    assert [(p.name, p.kind, p.default) for p in method] == [
        (p.name, p.kind, p.default) for p in function
    ]


def test_probe_layers_parameters_equal_the_function():
    method = _params(InspectableNeuralNetClassifier.probe_layers)
    function = _params(represent.probe_layers)
    assert [(p.name, p.kind, p.default) for p in method] == [
        (p.name, p.kind, p.default) for p in function
    ]


@pytest.mark.parametrize("method", sorted(CHAINS))
def test_every_parameter_is_documented(method):
    doc = inspect.getdoc(getattr(InspectableNeuralNetClassifier, method))
    assert "%(" not in doc
    section = doc.split("Parameters\n----------\n", 1)[1].split("Returns\n", 1)[0]
    documented = set()
    for line in section.splitlines():
        if line and not line.startswith(" ") and " : " in line:
            documented.update(n.strip() for n in line.split(" : ")[0].split(","))
        elif line and not line.startswith(" "):
            documented.add(line.strip())
    names = {p.name for p in _params(getattr(InspectableNeuralNetClassifier, method))}
    assert names <= documented, names - documented


class _Sentinel:
    """A value no default equals, to see that it arrives unchanged."""

    def __init__(self, name):
        self.name = name


@pytest.mark.parametrize("method", sorted(CHAINS))
def test_every_keyword_is_forwarded(method, monkeypatch):
    display_name = CHAINS[method][0]
    display = getattr(displays, display_name)
    received = {}

    def record(net, *args, **kwargs):
        received.update(kwargs)
        return "display"

    monkeypatch.setattr(display, "from_estimator", record)
    fn = getattr(InspectableNeuralNetClassifier, method)
    params = _params(fn)
    values = {p.name: _Sentinel(p.name) for p in params if p.kind is KEYWORD_ONLY}
    positional = {p.name: _Sentinel(p.name) for p in params if p.kind in POSITIONAL}
    net = InspectableNeuralNetClassifier.__new__(InspectableNeuralNetClassifier)
    assert fn(net, *positional.values(), **values) == "display"
    for name, value in values.items():
        assert received[name] is value, name
