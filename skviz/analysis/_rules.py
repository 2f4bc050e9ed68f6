"""What "dead" means for a layer, by the kind of function that made its output.

"Never above 0" is the death of a ReLU unit: its gradient is zero
everywhere it was seen, so it cannot recover. Applied to other outputs the
same test says nothing (a LayerNorm feature or an LSTM ``h_n`` is negative
half the time by construction) or something different (a LeakyReLU unit
that never leaves its negative side still passes a signal and learns). The
rule of each kind is decided here, once, and every report and display that
marks units names the rule it used.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["DEAD_RULES", "DeadRule", "dead_rule", "rule_text"]

#: The kinds of rule, see :func:`dead_rule`.
DeadRule = Literal["relu", "negative_slope", "saturation", "none"]

#: Rule -> what a marked unit is, as titles and reports say it.
DEAD_RULES: dict[str, str] = {
    "relu": "dead: never > tol",
    "negative_slope": "never > tol (its negative side still passes a signal)",
    "saturation": "saturated: near an asymptote on most samples",
    "none": "no dead rule (linear, normalised or recurrent output)",
}

# Class names of torch.nn modules and names of functional activations.
_RELU = {"relu", "relu6", "threshold"}
_NEGATIVE_SLOPE = {
    "leakyrelu",
    "leaky_relu",
    "prelu",
    "rrelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "softplus",
}
_SATURATION = {"tanh", "sigmoid", "hardtanh", "hardsigmoid", "softsign"}


def dead_rule(kind: str | None) -> DeadRule:
    """The rule that decides whether a unit of this kind of output is dead.

    Parameters
    ----------
    kind : str or None
        The class name of the module whose output it is (``"ReLU"``,
        ``"GELU"``, ``"LayerNorm"``) or the name of a functional activation
        (``"relu"``, ``"leaky_relu"``, ``"tanh"``). Case is ignored.

    Returns
    -------
    {"relu", "negative_slope", "saturation", "none"}
        * ``"relu"`` (ReLU, ReLU6, Threshold): dead when never > ``tol`` on
          any sample; such a unit gets no gradient and cannot recover.
        * ``"negative_slope"`` (LeakyReLU, PReLU, RReLU, ELU, SELU, CELU,
          GELU, SiLU, Mish, Hardswish, Softplus): the same test, never >
          ``tol``, reported as "never positive" and not as dead: the unit
          still passes a small signal through its negative side and still
          gets gradients, but it never takes part in the positive regime
          that carries most of the signal. One test for both keeps the
          numbers comparable with ``(A > 0).sum(axis=0) == 0``.
        * ``"saturation"`` (Tanh, Sigmoid, Hardtanh, Hardsigmoid,
          Softsign): never > 0 means nothing for a centred output; a unit
          is marked when it is saturated (near an asymptote on most
          samples), where its gradient vanishes.
        * ``"none"``: everything else (linear, conv, normalisation,
          embedding, attention, recurrent outputs, unknown modules); no
          unit is marked.

        Other class names that contain one of these function names
        (Hugging Face's ``GELUActivation``, ``NewGELUActivation``) are
        judged as that function.
    """
    name = (kind or "").lower()
    if name in _RELU:
        return "relu"
    if name in _NEGATIVE_SLOPE:
        return "negative_slope"
    if name in _SATURATION:
        return "saturation"
    # Libraries name their own modules after the function: Hugging Face's
    # GELUActivation, NewGELUActivation, SiLUActivation...
    if any(word in name for word in ("gelu", "silu", "swish", "mish", "leaky")):
        return "negative_slope"
    if "relu" in name:
        return "relu"
    if "tanh" in name or "sigmoid" in name:
        return "saturation"
    return "none"


def rule_text(rule: DeadRule, tol: float = 0.0) -> str:
    """What a unit marked by ``rule`` is, with ``tol`` filled in."""
    if rule not in DEAD_RULES:
        raise ValueError(f"rule must be one of {list(DEAD_RULES)}, got {rule!r}.")
    return DEAD_RULES[rule].replace("tol", f"{tol:g}")
