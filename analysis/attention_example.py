"""One item's attention, every head of every layer (the BertViz / exBERT view): packing it for the warehouse and
the frames its charts and downloads draw. Pure numpy / pandas; the model run is in pipeline/stages/attention.py.

An item's attention is float32 [L, H, T, T]: block l (0-based here, layer l + 1 on the pages), head h, query token
i, key token j; every row [l, h, i, :] sums to 1.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DTYPES = ("float16", "uint8", "float32")
GRID_BINS = 32  # the head x layer grid draws at most this many rows and columns per small map


def pack(att: np.ndarray, dtype: str = "float16") -> tuple[bytes, str, float, float]:
    """(little-endian row-major bytes, dtype, scale, max_error) of ``att``: weight = stored * scale.

    float16: scale 1 (error at most 2^-12 for weights in [0, 1]); uint8: code round(255 w), scale 1/255 (error at
    most 1/510); float32: exact. max_error is measured on this array, not the bound."""
    att = np.asarray(att, dtype=np.float32)
    if dtype == "float16":
        stored, scale = att.astype("<f2"), 1.0
    elif dtype == "uint8":
        stored, scale = np.rint(np.clip(att, 0.0, 1.0) * 255).astype(np.uint8), 1.0 / 255
    elif dtype == "float32":
        stored, scale = att.astype("<f4"), 1.0
    else:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    decoded = stored.astype(np.float32) * np.float32(scale)
    max_error = float(np.abs(decoded - att).max()) if att.size else 0.0
    return stored.tobytes(), dtype, scale, max_error


def unpack(blob: bytes, dtype: str, scale: float, n_layers: int, n_heads: int, n_tokens: int) -> np.ndarray:
    """The float32 [n_layers, n_heads, n_tokens, n_tokens] array that ``pack`` stored."""
    code = {"float16": "<f2", "uint8": "u1", "float32": "<f4"}[dtype]
    arr = np.frombuffer(blob, dtype=code).reshape(n_layers, n_heads, n_tokens, n_tokens)
    return arr.astype(np.float32) * np.float32(scale)


def labels(tokens) -> list[str]:
    """Position-prefixed token labels ("0 [CLS]", "1 the", ...): unique even when a token repeats."""
    return [f"{i} {t}" for i, t in enumerate(tokens)]


def weights_frame(att: np.ndarray, tokens, layers=None, heads=None) -> pd.DataFrame:
    """Long frame (layer, head, from_index, from_token, to_index, to_token, weight) of the chosen 1-based
    ``layers`` and 0-based ``heads`` (None: all), layer-major then head, query, key."""
    att = np.asarray(att, dtype=np.float32)
    n_layers, n_heads, t, _ = att.shape
    ls = np.arange(1, n_layers + 1) if layers is None else np.asarray(list(layers), dtype=np.int64)
    hs = np.arange(n_heads) if heads is None else np.asarray(list(heads), dtype=np.int64)
    sub = att[ls - 1][:, hs]  # [l, h, T, T]
    li, hi, i, j = np.meshgrid(ls, hs, np.arange(t), np.arange(t), indexing="ij")
    tok = np.asarray(list(tokens), dtype=object)
    return pd.DataFrame({"layer": li.ravel(), "head": hi.ravel(), "from_index": i.ravel(), "from_token": tok[i.ravel()],
                         "to_index": j.ravel(), "to_token": tok[j.ravel()], "weight": sub.ravel()})


def grid_frame(att: np.ndarray, max_bins: int = GRID_BINS) -> tuple[pd.DataFrame, int]:
    """The head x layer grid's data and its block size b: every head's matrix as (layer, head, i, j, weight),
    full size when T <= max_bins, else averaged over b x b blocks of consecutive tokens (b = ceil(T / max_bins);
    the last block may be smaller), so no small map has more than max_bins^2 cells."""
    att = np.asarray(att, dtype=np.float32)
    n_layers, n_heads, t, _ = att.shape
    b = max(1, -(-t // max_bins))
    edges = np.arange(0, t, b)
    counts = np.diff(np.append(edges, t)).astype(np.float32)
    # block sums along both token axes, then divide by the block's cell count
    pooled = np.add.reduceat(np.add.reduceat(att, edges, axis=2), edges, axis=3) / np.multiply.outer(counts, counts)
    n = len(edges)
    li, hi, i, j = np.meshgrid(np.arange(1, n_layers + 1), np.arange(n_heads), np.arange(n), np.arange(n),
                               indexing="ij")
    return pd.DataFrame({"layer": li.ravel(), "head": hi.ravel(), "i": i.ravel(), "j": j.ravel(),
                         "weight": pooled.ravel().astype(np.float32)}), b


def lines_frame(matrix: np.ndarray, tokens, min_weight: float = 0.0) -> pd.DataFrame:
    """The token-to-token lines of one head: (from_index, to_index, from_token, to_token, weight) for every weight
    >= ``min_weight`` of the [T, T] matrix (query i on the left, key j on the right)."""
    m = np.asarray(matrix, dtype=np.float32)
    i, j = np.nonzero(m >= min_weight)
    tok = np.asarray(list(tokens), dtype=object)
    return pd.DataFrame({"from_index": i, "to_index": j, "from_token": tok[i], "to_token": tok[j],
                         "weight": m[i, j]})


def token_frame(tokens) -> pd.DataFrame:
    """(index, token) of every token: the two text columns of the lines chart."""
    tokens = list(tokens)
    return pd.DataFrame({"index": np.arange(len(tokens)), "token": tokens})
