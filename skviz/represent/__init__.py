"""What layers and nets have learned, as numbers: CKA, probes, embeddings.

Arrays and DataFrames out, no matplotlib (the pictures are
:class:`skviz.plot.CKADisplay`, :class:`~skviz.plot.ProbeDisplay` and
:class:`~skviz.plot.EmbeddingDisplay`).

* :func:`cka`, :func:`cka_between`: linear CKA between layers of one net or
  two nets, streamed in one pass over X (memory independent of the number
  of samples); :func:`linear_cka` for two arrays; :func:`unbiased_hsic` the
  minibatch estimator's building block.
* :func:`probe_layers`: a cross-validated linear probe on every layer, from
  one capture pass.
* :func:`embed_layers`: 2-D projections (PCA, t-SNE, any transformer).
"""

from ._cka import DEFAULT_MAX_BYTES, cka, cka_between
from ._embedding import embed_layers
from ._hsic import linear_cka, unbiased_hsic
from ._probes import default_probe, probe_layers

__all__ = [
    "DEFAULT_MAX_BYTES",
    "cka",
    "cka_between",
    "default_probe",
    "embed_layers",
    "linear_cka",
    "probe_layers",
    "unbiased_hsic",
]
