"""Drift statistics on binned data, vectorised over features.

Every statistic compares a baseline histogram with a current one on the same
bins (the build manifest's baseline bins). Inputs are 2-D count arrays
``[features, bins]``; features with fewer bins are padded and masked.

Conventions follow Evidently where it has one:
- PSI with empty bins floored at 1e-4 (0.1 warn / 0.2 alert);
- Jensen-Shannon *distance* (sqrt of the divergence, natural log; 0.1);
- Wasserstein-1 between the binned distributions (mass at bin centres),
  divided by the baseline's standard deviation ("normed", 0.1);
- two-sample Kolmogorov-Smirnov on the binned CDFs with the asymptotic
  p-value (alert when p < 0.05).
A chi-square homogeneity test gives the significance that guards against
alarms from small windows (see :func:`chi2_pvalue`).
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-4


def _props(counts: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.where(mask, counts, 0).astype(np.float64)
    n = counts.sum(axis=1)
    p = counts / np.maximum(n, 1)[:, None]
    return p, n


def psi(p: np.ndarray, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pe = np.where(p == 0, EPS, p)
    qe = np.where(q == 0, EPS, q)
    return np.where(mask, (qe - pe) * np.log(qe / pe), 0.0).sum(axis=1)


def js_distance(p: np.ndarray, q: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where((p > 0) & mask, p * np.log(p / np.where(m > 0, m, 1)), 0.0).sum(axis=1)
        kl_q = np.where((q > 0) & mask, q * np.log(q / np.where(m > 0, m, 1)), 0.0).sum(axis=1)
    return np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0))


def ks(p: np.ndarray, q: np.ndarray, n_p: np.ndarray, n_q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1)).max(axis=1)
    ne = np.where((n_p > 0) & (n_q > 0), n_p * n_q / np.maximum(n_p + n_q, 1), 0.0)
    sq = np.sqrt(ne)
    lam = (sq + 0.12 + 0.11 / np.maximum(sq, 1e-9)) * d
    k = np.arange(1, 101)[None, :]
    terms = 2 * (-1.0) ** (k - 1) * np.exp(-2 * (k ** 2) * (lam[:, None] ** 2))
    pval = np.clip(terms.sum(axis=1), 0.0, 1.0)
    pval = np.where(lam < 1e-3, 1.0, pval)  # the series does not converge near 0; p is 1 there
    return d, pval


def wasserstein_normed(p: np.ndarray, q: np.ndarray, centres: np.ndarray, mask: np.ndarray) -> np.ndarray:
    cdf_gap = np.abs(np.cumsum(p, axis=1) - np.cumsum(q, axis=1))[:, :-1]
    steps = np.where(mask[:, 1:], np.diff(centres, axis=1), 0.0)
    w = (cdf_gap * steps).sum(axis=1)
    mean = (p * centres).sum(axis=1)
    std = np.sqrt(np.maximum((p * (centres - mean[:, None]) ** 2).sum(axis=1), 0.0))
    span = np.where(mask, centres, np.nan)
    rng = np.nanmax(span, axis=1) - np.nanmin(span, axis=1)
    scale = np.where(std > 1e-12, std, np.where(rng > 1e-12, rng, 1.0))
    return w / scale


def chi2_pvalue(b: np.ndarray, c: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """p-value of a chi-square homogeneity test of two binned samples (per row).

    Uses the Wilson-Hilferty normal approximation of the chi-square tail,
    which is accurate to a few percent where it matters (p < 0.05).
    """
    b = np.where(mask, b, 0).astype(np.float64)
    c = np.where(mask, c, 0).astype(np.float64)
    nb, nc = b.sum(axis=1), c.sum(axis=1)
    tot = b + c
    used = tot > 0
    n = nb + nc
    eb = tot * (nb / np.maximum(n, 1))[:, None]
    ec = tot * (nc / np.maximum(n, 1))[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        x2 = np.where(used, (b - eb) ** 2 / np.where(eb > 0, eb, 1) + (c - ec) ** 2 / np.where(ec > 0, ec, 1), 0.0).sum(axis=1)
    dof = np.maximum(used.sum(axis=1) - 1, 1).astype(np.float64)
    z = ((x2 / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / np.sqrt(2 / (9 * dof))
    p = 0.5 * np.array([math.erfc(v / math.sqrt(2)) for v in z])
    return np.where((nb > 0) & (nc > 0) & (used.sum(axis=1) > 1), p, 1.0)


def pad(rows: list[np.ndarray], fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack ragged 1-D arrays into [len(rows), max_len] plus a validity mask."""
    width = max((len(r) for r in rows), default=0)
    out = np.full((len(rows), max(width, 1)), fill, dtype=np.float64)
    mask = np.zeros_like(out, dtype=bool)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
        mask[i, :len(r)] = True
    return out, mask


def compare(baseline: np.ndarray, current: np.ndarray, mask: np.ndarray, centres: np.ndarray) -> dict[str, np.ndarray]:
    """All statistics for each row of two padded count matrices."""
    p, n_p = _props(baseline, mask)
    q, n_q = _props(current, mask)
    d, ks_p = ks(p, q, n_p, n_q)
    return {
        "n": n_q,
        "psi": psi(p, q, mask),
        "js": js_distance(p, q, mask),
        "ks": d,
        "ks_p": ks_p,
        "wasserstein": wasserstein_normed(p, q, centres, mask),
        "chi2_p": chi2_pvalue(baseline, current, mask),
    }
