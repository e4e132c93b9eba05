"""Signal features computed once per input: a per-user cache of ``log_mel``/``mfcc`` outputs.

The integer reference of an MFCC is exact but not cheap in numpy (about 30 ms per
second of audio), and one loop computes it for the same clips many times: training,
calibration, evaluation, each build's baseline and golden rows, retraining. The
result depends only on the definition, the code that computes it and the input
bytes, so it is kept under ``$TINYOPS_CACHE/feature-cache/`` keyed by a sha256 of
those (a changed definition, code or clip is another key). Other kinds are cheap
and are computed every time.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from tinyops import atomic
from tinyops.ml import features, signal_features
from tinyops.package_data import cache_dir

MIN_VALUES = 100_000  # below this, computing is cheaper than hashing and reading


def _key(definition: dict[str, Any], arrays: dict[str, np.ndarray], keys: list[str]) -> str:
    h = hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode())
    h.update(features.code_hash(str(definition["kind"])).encode())
    for k in keys:
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def apply(definition: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``features.apply``, with signal kinds' outputs read from (or written to) the cache."""
    kind = definition.get("kind")
    params = features.validate(str(kind), dict(definition.get("params") or {})) if kind in features.KINDS else {}
    keys = params.get("key") or []
    if kind not in signal_features.SIGNAL_KINDS or not all(
            k in arrays and np.asarray(arrays[k]).dtype.kind in "iuf" for k in keys) \
            or sum(np.asarray(arrays[k]).size for k in keys) < MIN_VALUES:
        return features.apply(definition, arrays)
    path = cache_dir("feature-cache", _key(definition, arrays, keys) + ".npz")
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                return dict(arrays, **{k: z[k] for k in keys})
        except (OSError, ValueError, KeyError):  # a damaged entry: compute it again
            pass
    out = features.apply(definition, arrays)
    try:
        with atomic.writing(path) as f:
            np.savez(f, **{k: out[k] for k in keys})
    except OSError:  # a read-only cache only costs time
        pass
    return out
