"""The arithmetic of linear CKA: streamed cross-covariances and minibatch HSIC.

No net, no torch module: arrays in, numbers out. Two estimators:

* :class:`CovarianceCKA` accumulates the centred cross-products of all
  layers' features, ``sum_k (z_k - mean)(z_k - mean)^T``, merging batches
  with Chan et al.'s pairwise update (each batch centred on its own mean,
  the means' difference added as a rank-one term), in float64. Linear CKA
  is then exact for all samples: with centred ``X`` and ``Y``,
  ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``, which equals the Gram
  matrix formula ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))`` with
  ``K = X X^T``, ``L = Y Y^T`` (Kornblith et al. 2019). Memory grows with
  the squared number of features, not with the samples.
* :class:`MinibatchCKA` sums the unbiased HSIC estimator (Song et al. 2012)
  of each batch's Gram matrices and divides at the end (Nguyen, Raghu and
  Kornblith 2021): memory ``O(batch^2)`` whatever the width.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["CovarianceCKA", "MinibatchCKA", "linear_cka", "unbiased_hsic"]

#: A layer whose total variance is at most this fraction of its squared mean
#: (or exactly zero) counts as constant: its CKA with anything is undefined.
CONSTANT_RTOL = 1e-12


def unbiased_hsic(K: np.ndarray, L: np.ndarray) -> float:
    """The unbiased HSIC estimator of two ``n x n`` Gram matrices (n >= 4).

    ``HSIC_1 = [tr(K~ L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1]
    / (n(n-3))`` with ``K~``, ``L~`` the Gram matrices with zero diagonals
    (Song et al. 2012, eq. 5).
    """
    K = np.array(K, dtype=np.float64)
    L = np.array(L, dtype=np.float64)
    n = K.shape[0]
    if K.shape != (n, n) or L.shape != (n, n):
        raise ValueError(
            f"K and L must be square of one size, got {K.shape}, {L.shape}."
        )
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 samples, got {n}.")
    np.fill_diagonal(K, 0.0)
    np.fill_diagonal(L, 0.0)
    k1, l1 = K.sum(axis=0), L.sum(axis=0)
    value = (
        np.sum(K * L)
        + k1.sum() * l1.sum() / ((n - 1) * (n - 2))
        - 2.0 / (n - 2) * (k1 @ l1)
    )
    return float(value / (n * (n - 3)))


def _ratio(cross: np.ndarray, self_a: np.ndarray, self_b: np.ndarray) -> np.ndarray:
    """``cross / sqrt(self_a self_b)``, with 0 where either side has no signal."""
    denominator = np.sqrt(np.outer(self_a, self_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(denominator > 0, cross / denominator, 0.0)
    return values


class CovarianceCKA:
    """Exact linear CKA between groups of features, streamed over batches.

    Every row is shifted by one fixed vector ``c`` (the first batch's mean,
    in the activations' precision), and the sums ``S = sum (z - c)(z - c)^T``
    and ``s = sum (z - c)`` are kept; the centred cross-products are then
    ``S - s s^T / n`` for any ``c``. A shift near the mean keeps the
    products small next to the spread, so the subtraction loses nothing.
    Products run in the activations' own precision (a float32 GEMM is twice
    as fast as a float64 one, and this is the costly step) into a buffer
    added to the float64 sums every few thousand rows.

    Parameters
    ----------
    widths : sequence of int
        Features of each layer; a batch is a list of ``(rows, width)``
        arrays in this order.
    """

    #: Rows summed in the activations' precision before the float64 sums.
    FLUSH_ROWS = 8192

    def __init__(self, widths: Sequence[int]):
        self.widths = [int(w) for w in widths]
        self.offsets = np.concatenate([[0], np.cumsum(self.widths)]).astype(int)
        total = int(self.offsets[-1])
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.sums = torch.zeros(total, dtype=torch.float64)
        # Only blocks (i, j) with i <= j are filled: half the work.
        self.products = torch.zeros((total, total), dtype=torch.float64)
        self._buffer: torch.Tensor | None = None
        self._pending = 0
        self._rows: torch.Tensor | None = None

    @staticmethod
    def nbytes(widths: Sequence[int]) -> int:
        """Memory of the accumulator for these widths (float64 sums, float32 buffer)."""
        total = int(sum(widths))
        return 12 * total * total + 16 * total

    def update(self, arrays: Sequence[np.ndarray]) -> None:
        rows = arrays[0].shape[0]
        if rows == 0:
            return
        dtype = (
            torch.float64
            if any(a.dtype == np.float64 for a in arrays)
            else (torch.float32)
        )
        total = int(self.offsets[-1])
        if self._rows is None or self._rows.shape[0] < rows:
            self._rows = torch.empty((rows, total), dtype=dtype)
        Z = self._rows[:rows]
        for i, a in enumerate(arrays):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            Z[:, lo:hi].copy_(torch.from_numpy(np.asarray(a).reshape(rows, -1)))
        if self.shift is None:
            self.shift = Z.mean(dim=0, dtype=torch.float64).to(dtype)
            self._buffer = torch.zeros((total, total), dtype=dtype)
        Z.sub_(self.shift)
        self.sums += Z.sum(dim=0, dtype=torch.float64)
        for i in range(len(self.widths)):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            block = self._buffer[lo:hi, lo:]
            block.addmm_(Z[:, lo:hi].T, Z[:, lo:])
        self.n += rows
        self._pending += rows
        if self._pending >= self.FLUSH_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self.products += self._buffer
            self._buffer.zero_()
            self._pending = 0

    @property
    def m2(self) -> torch.Tensor:
        """Centred cross-products ``sum (z - mean)(z - mean)^T`` (upper blocks)."""
        self._flush()
        if self.n == 0:
            return self.products
        return self.products - torch.outer(self.sums, self.sums) / self.n

    @property
    def mean(self) -> torch.Tensor:
        if self.shift is None:
            return self.sums
        return self.shift.to(torch.float64) + self.sums / max(self.n, 1)

    def _block(self, i: int, j: int, m2: torch.Tensor) -> torch.Tensor:
        i, j = min(i, j), max(i, j)
        o = self.offsets
        return m2[o[i] : o[i + 1], o[j] : o[j + 1]]

    def constant(self, m2: torch.Tensor | None = None) -> np.ndarray:
        """Whether each layer was constant over the samples seen."""
        m2 = self.m2 if m2 is None else m2
        mean = self.mean
        result = []
        for i in range(len(self.widths)):
            lo, hi = self.offsets[i], self.offsets[i + 1]
            variance = float(torch.diagonal(m2[lo:hi, lo:hi]).sum())
            scale = float((mean[lo:hi] ** 2).sum()) * self.n
            result.append(variance <= CONSTANT_RTOL * scale)
        return np.asarray(result, dtype=bool)

    def cka(self, rows: Sequence[int], cols: Sequence[int]) -> np.ndarray:
        """Linear CKA of layers ``rows`` against layers ``cols``; 0 for a constant layer.

        ``||C_ij||_F^2 / sqrt(||C_ii||_F^2 ||C_jj||_F^2)`` with ``C_ij`` the
        centred cross-products of layers i and j (the 1/n scales cancel).
        """
        if self.n < 2:
            raise ValueError(
                f"CKA needs at least 2 samples, got {self.n}: one sample has no "
                "variance to compare."
            )
        m2 = self.m2

        def hsic(i, j):
            return float((self._block(i, j, m2) ** 2).sum())

        self_hsic = np.array([hsic(i, i) for i in range(len(self.widths))])
        self_hsic[self.constant(m2)] = 0.0
        cross = np.array([[hsic(i, j) for j in cols] for i in rows])
        return _ratio(cross, self_hsic[list(rows)], self_hsic[list(cols)])


class MinibatchCKA:
    """Linear CKA from the unbiased HSIC of each batch (Nguyen et al. 2021).

    ``CKA_ij = sum_b HSIC_1(K_i^b, K_j^b) / sqrt(sum_b HSIC_1(K_i^b, K_i^b)
    sum_b HSIC_1(K_j^b, K_j^b))``. Batches of fewer than 4 samples are
    skipped (the estimator is undefined for them); ``rows_used`` counts the
    others.
    """

    def __init__(self, n_layers: int):
        self.n_layers = n_layers
        self.sums = np.zeros((n_layers, n_layers))
        self.rows_used = 0
        self.batches = 0
        self.skipped = 0
        self.n = 0
        self.varied = np.zeros(n_layers, dtype=bool)

    def update(self, arrays: Sequence[np.ndarray]) -> None:
        rows = arrays[0].shape[0]
        self.n += rows
        if rows < 4:
            self.skipped += rows
            return
        grams = []
        for i, a in enumerate(arrays):
            x = torch.from_numpy(np.asarray(a).reshape(rows, -1))
            self.varied[i] |= bool((x != x[:1]).any())
            K = (x @ x.T).to(torch.float64)
            K.fill_diagonal_(0.0)
            grams.append(K)
        sums = [K.sum(dim=0) for K in grams]
        totals = [float(s.sum()) for s in sums]
        scale = 1.0 / (rows * (rows - 3))
        for i in range(self.n_layers):
            for j in range(i, self.n_layers):
                value = (
                    float((grams[i] * grams[j]).sum())
                    + totals[i] * totals[j] / ((rows - 1) * (rows - 2))
                    - 2.0 / (rows - 2) * float(sums[i] @ sums[j])
                ) * scale
                self.sums[i, j] += value
                if i != j:
                    self.sums[j, i] += value
        self.rows_used += rows
        self.batches += 1

    def constant(self) -> np.ndarray:
        return ~self.varied

    def cka(self, rows: Sequence[int], cols: Sequence[int]) -> np.ndarray:
        if self.batches == 0:
            raise ValueError(
                f"the minibatch CKA estimator needs batches of at least 4 samples; "
                f"got {self.n} sample(s) in all. Pass more samples or a larger "
                "batch_size."
            )
        diag = np.clip(np.diag(self.sums).copy(), 0.0, None)
        diag[self.constant()] = 0.0
        cross = self.sums[np.ix_(list(rows), list(cols))]
        return _ratio(cross, diag[list(rows)], diag[list(cols)])


def linear_cka(X, Y) -> float:
    """Linear CKA of two representations of the same samples.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features_x)
    Y : array-like of shape (n_samples, n_features_y)
        Further axes are flattened.

    Returns
    -------
    float
        In [0, 1]; 1 when ``Y`` is an orthogonal transform of ``X`` times a
        scalar (plus a constant). 0 when either side is constant over the
        samples (CKA is undefined there: nothing varies to compare).

    Raises
    ------
    ValueError
        Fewer than 2 samples, different sample counts, NaN or infinite values.
    """
    X, Y = np.asarray(X), np.asarray(Y)
    X = X if X.dtype.kind == "f" else X.astype(np.float64)
    Y = Y if Y.dtype.kind == "f" else Y.astype(np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X and Y hold {X.shape[0]} and {Y.shape[0]} samples.")
    X = X.reshape(X.shape[0], -1)
    Y = Y.reshape(Y.shape[0], -1)
    for name, a in (("X", X), ("Y", Y)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} contains NaN or infinite values.")
    acc = CovarianceCKA([X.shape[1], Y.shape[1]])
    acc.update([X, Y])
    return float(acc.cka([0], [1])[0, 0])
