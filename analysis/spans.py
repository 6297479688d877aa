"""Span match (LSTMVis, Strobelt et al. 2016): the units that stay on over a span of text, the other spans of the
corpus where they are on, how they co-activate, and which units separate two sets of phrases.

Pure numpy/pandas/scipy (the dashboard has no torch). Shapes: a sentence's states are float32 [T, H] (T units:
characters for the char LSTM, WordPieces for a transformer; H hidden units); a stored corpus is one
``StateBlock`` of [N, H] rows, N = total steps, sentence after sentence.

Definitions (threshold l, default 0.3 as in LSTMVis and the study):
- unit u is *on* at step t when state[t, u] >= l;
- the units on over a span [s, e) are those on at every step of it; LSTMVis's stricter rule also asks them to be
  off just before (s - 1) and just after (e) the span, where those steps exist in the sentence;
- a match for a set of k selected units is a maximal run of steps (inside one sentence) at each of which at
  least ``min_on`` of them are on; matches are ranked by how many of the k are on over the whole run, then by
  how close the run's length is to the query span's, then by the mean number on per step.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.numerics import holm

THRESHOLD = 0.3
INT8_SCALE = 1.0 / 127.0
ITEMSIZE = {"int8": 1, "float16": 2, "float32": 4}
_NUMPY = {"int8": "<i1", "float16": "<f2", "float32": "<f4"}
WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


# ---------------------------------------------------------------------------------------------------------
# Storage: a compact, exact-size encoding of a [T, H] state array
# ---------------------------------------------------------------------------------------------------------

def encode_states(x: np.ndarray, dtype: str) -> tuple[bytes, str, float, float]:
    """Pack float32 [T, H] states as little-endian ``dtype``: (bytes, dtype used, scale, max abs error).

    int8 is for states bounded in [-1, 1]: code = round(127 * value) (so the error is at most 1/254 there);
    values outside [-1, 1] are clipped and the error says so. float16 falls back to float32 for a row that
    would overflow it (|value| > 65504), and the returned dtype says which was used.
    """
    x = np.asarray(x, dtype=np.float32)
    if dtype == "int8":
        codes = np.clip(np.rint(x * 127.0), -127, 127).astype("<i1")
        scale = INT8_SCALE
        err = np.abs(codes.astype(np.float32) * np.float32(scale) - x)
    elif dtype == "float16":
        if x.size and float(np.abs(x).max()) > float(np.finfo(np.float16).max):
            return encode_states(x, "float32")
        codes, scale = x.astype("<f2"), 1.0
        err = np.abs(codes.astype(np.float32) - x)
    elif dtype == "float32":
        codes, scale, err = x.astype("<f4"), 1.0, np.zeros(1, np.float32)
    else:
        raise ValueError(f"dtype must be one of {', '.join(ITEMSIZE)}, got {dtype!r}")
    return codes.tobytes(), dtype, scale, float(err.max()) if err.size else 0.0


def decode_states(blob: bytes, n_units: int, dtype: str, scale: float) -> np.ndarray:
    """float32 [n_units, H] from one stored row (H follows from the blob's size)."""
    raw = np.frombuffer(blob, dtype=_NUMPY[dtype])
    return (raw.astype(np.float32) * np.float32(scale)).reshape(n_units, -1) if n_units else \
        np.zeros((0, 0), np.float32)


@dataclass
class StateBlock:
    """Every stored step of one (run, layer): steps offsets[s]:offsets[s + 1] are sentence s of ``keys``.

    xt: [H, N] as stored (int8 codes, float16 or float32), unit-major: a unit's N steps are contiguous, so
        selecting k units reads k rows instead of striding through all H (much faster at large N);
        value = xt * scale.
    keys: one row per sentence in block order (dataset, sentence_id, text, starts, ends, ... as loaded).
    """

    xt: np.ndarray
    scale: float
    offsets: np.ndarray
    keys: pd.DataFrame

    @property
    def n_steps(self) -> int:
        return int(self.xt.shape[1])

    @property
    def hidden(self) -> int:
        return int(self.xt.shape[0])

    def columns(self, units) -> np.ndarray:
        """float32 [N, k] (column-major): the selected units at every stored step."""
        return self.xt[np.asarray(units, dtype=np.int64)].T.astype(np.float32) * np.float32(self.scale)

    def sentence(self, s: int) -> np.ndarray:
        """float32 [T, H]: every unit of sentence s (block order)."""
        return self.xt[:, self.offsets[s]:self.offsets[s + 1]].T.astype(np.float32) * np.float32(self.scale)


def stack_rows(blobs, n_units, dtypes, scales, keys: pd.DataFrame, hidden: int) -> StateBlock:
    """One StateBlock from stored rows (in ``keys`` order). Rows sharing one dtype and scale are joined without
    decoding (int8 stays int8: 4x less memory than float32); a mix is decoded to float32. Transposed once to
    unit-major."""
    n_units = np.asarray(n_units, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_units)])
    kinds = set(zip(list(dtypes), [float(s) for s in scales]))
    if len(kinds) <= 1:
        dtype, scale = next(iter(kinds)) if kinds else ("float32", 1.0)
        x = np.frombuffer(b"".join(blobs), dtype=_NUMPY[dtype]).reshape(-1, hidden)
    else:
        parts = [decode_states(b, int(n), d, s).reshape(-1, hidden)
                 for b, n, d, s in zip(blobs, n_units, dtypes, scales)]
        x, scale = (np.concatenate(parts) if parts else np.zeros((0, hidden), np.float32)), 1.0
    if x.shape[0] != offsets[-1]:
        raise ValueError(f"stored states hold {x.shape[0]} steps, the units {offsets[-1]}")
    return StateBlock(xt=_transposed(x), scale=scale, offsets=offsets, keys=keys.reset_index(drop=True))


def _transposed(x: np.ndarray, rows: int = 1024) -> np.ndarray:
    """x.T as a contiguous array, copied ``rows`` rows at a time: each slab stays in the CPU cache, where one
    strided copy of the whole array does not."""
    out = np.empty((x.shape[1], x.shape[0]), dtype=x.dtype)
    for start in range(0, x.shape[0], rows):
        out[:, start:start + rows] = x[start:start + rows].T
    return out


# ---------------------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------------------

def units_on(states: np.ndarray, start: int, end: int, threshold: float = THRESHOLD,
             strict: bool = False) -> np.ndarray:
    """Indices of the units on (>= threshold) at every step of [start, end) of one sentence's [T, H] states.

    strict (LSTMVis): also below the threshold at step start - 1 and at step end, where those exist.
    """
    t = states.shape[0]
    if not 0 <= start < end <= t:
        raise ValueError(f"span [{start}, {end}) is not inside a sentence of {t} units")
    on = (states[start:end] >= threshold).all(axis=0)
    if strict:
        if start > 0:
            on &= states[start - 1] < threshold
        if end < t:
            on &= states[end] < threshold
    return np.flatnonzero(on)


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """Words and punctuation marks of a text with their character spans: [(start, end, word)]."""
    return [(m.start(), m.end(), m.group()) for m in WORD.finditer(text)]


def char_span_units(starts, ends, a: int, b: int) -> tuple[int, int] | None:
    """The units overlapping characters [a, b): (first, last + 1), or None when no unit does."""
    starts, ends = np.asarray(starts), np.asarray(ends)
    hit = np.flatnonzero((ends > a) & (starts < b))
    return (int(hit[0]), int(hit[-1]) + 1) if len(hit) else None


# ---------------------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------------------

def on_runs(step_on: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Maximal runs of True in ``step_on`` [N] that do not cross a sentence boundary: (starts, ends), global
    row indices, ends exclusive."""
    step_on = np.asarray(step_on, dtype=bool)
    n = len(step_on)
    first = np.zeros(n + 1, dtype=bool)
    first[offsets[offsets < n]] = True  # a sentence starts here, so a run cannot continue across
    prev_on = np.concatenate([[False], step_on[:-1]])
    begins = step_on & (~prev_on | first[:n])
    next_on = np.concatenate([step_on[1:], [False]])
    last = step_on & (~next_on | first[1:])
    return np.flatnonzero(begins), np.flatnonzero(last) + 1


def find_matches(cols: np.ndarray, offsets: np.ndarray, query_len: int, threshold: float = THRESHOLD,
                 min_on: int | None = None) -> pd.DataFrame:
    """Spans of the corpus where the selected units are on, best first.

    cols: float32 [N, k], the k selected units at every stored step (StateBlock.columns); offsets [S + 1].
    A step is on when >= min_on of the k units are >= threshold (default: all k); a match is a maximal run of
    on steps within a sentence. Columns: sentence (block row), start, end (unit indices in the sentence, end
    exclusive), length, n_on (units on at every step of the run), mean_on (units on per step, averaged),
    len_diff (|length - query_len|). Ranked by n_on desc, len_diff asc, mean_on desc, then corpus order.
    """
    cols = np.asarray(cols)
    k = cols.shape[1]
    min_on = k if min_on is None else int(min_on)
    if not 1 <= min_on <= max(k, 1):
        raise ValueError(f"min_on must be between 1 and the {k} selected units, got {min_on}")
    on = cols >= threshold  # [N, k]
    count = on.sum(axis=1, dtype=np.int32)
    starts, ends = on_runs(count >= min_on, offsets)
    if not len(starts):
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in
                             ("sentence", "start", "end", "length", "n_on", "len_diff")}).assign(
            mean_on=pd.Series(dtype="float64"))[["sentence", "start", "end", "length", "n_on", "mean_on", "len_diff"]]
    # Prefix sums: a unit is on over [s, e) exactly when its on-count there equals the length.
    csum = np.zeros((len(on) + 1, k), dtype=np.int32)
    np.cumsum(on, axis=0, dtype=np.int32, out=csum[1:])
    length = ends - starts
    n_on = ((csum[ends] - csum[starts]) == length[:, None]).sum(axis=1)
    ccount = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
    mean_on = (ccount[ends] - ccount[starts]) / length
    sentence = np.searchsorted(offsets, starts, side="right") - 1
    len_diff = np.abs(length - int(query_len))
    order = np.lexsort((starts, -mean_on, len_diff, -n_on))
    return pd.DataFrame({
        "sentence": sentence[order], "start": (starts - offsets[sentence])[order],
        "end": (ends - offsets[sentence])[order], "length": length[order], "n_on": n_on[order],
        "mean_on": mean_on[order], "len_diff": len_diff[order],
    }).reset_index(drop=True)


def match_context(text: str, a: int, b: int, width: int = 40) -> tuple[str, str, str]:
    """(left, match, right): up to ``width`` characters of the sentence on each side of characters [a, b)."""
    left = text[max(0, a - width):a]
    right = text[b:b + width]
    return ("…" if a > width else "") + left, text[a:b], right + ("…" if b + width < len(text) else "")


def matched_words(items) -> pd.DataFrame:
    """Histogram of the words (and punctuation marks) that overlap each matched span, lower-cased, each word
    counted once per match. items: iterable of (text, a, b) character spans. Columns word, matches."""
    counts: Counter = Counter()
    for text, a, b in items:
        counts.update({w.lower() for s, e, w in word_spans(text) if e > a and s < b})
    df = pd.DataFrame(counts.most_common(), columns=["word", "matches"])
    return df.sort_values(["matches", "word"], ascending=[False, True], kind="stable").reset_index(drop=True)


def coactivation(cols: np.ndarray, threshold: float = THRESHOLD) -> tuple[np.ndarray, np.ndarray]:
    """Jaccard overlap of the on-sets of the selected units over every stored step.

    cols float32 [N, k]. Returns (jaccard [k, k]: |on_u and on_v| / |on_u or on_v|, NaN where neither is ever
    on; n_on [k]: steps at which each unit is on).
    """
    on = (np.asarray(cols) >= threshold).astype(np.float64)  # BLAS, exact for counts below 2**53
    inter = on.T @ on
    n_on = np.diag(inter).copy()
    union = n_on[:, None] + n_on[None, :] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, inter / union, np.nan)
    return jac, n_on.astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# Contrast sets
# ---------------------------------------------------------------------------------------------------------

def find_occurrences(texts, phrase: str) -> list[tuple[int, int, int]]:
    """Case-insensitive whole-word occurrences of ``phrase`` in ``texts`` (any run of spaces matches any
    whitespace): [(text index, start char, end char)]."""
    words = phrase.split()
    if not words:
        return []
    pattern = re.compile(r"(?<!\w)" + r"\s+".join(re.escape(w) for w in words) + r"(?!\w)", re.IGNORECASE)
    return [(i, m.start(), m.end()) for i, t in enumerate(texts) for m in pattern.finditer(t)]


def parse_phrases(text: str) -> list[str]:
    """One phrase per line; blank lines dropped, duplicates kept once (first wins)."""
    out: list[str] = []
    for line in (text or "").splitlines():
        p = " ".join(line.split())
        if p and p.lower() not in {o.lower() for o in out}:
            out.append(p)
    return out


def contrast(a: np.ndarray, b: np.ndarray) -> pd.DataFrame:
    """Which units separate two sets of phrase vectors (a [na, H], b [nb, H]).

    Per unit: mean_a, mean_b, diff = mean_a - mean_b, the two-sided Mann-Whitney U statistic of a vs b and its
    p-value (scipy.stats.mannwhitneyu), and p_holm (Holm-corrected across the H units). Sorted by p_value,
    then |diff| descending. Units constant over both sets get p = 1.
    """
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need two [n, H] arrays of the same width, got {a.shape} and {b.shape}")
    if len(a) < 1 or len(b) < 1:
        raise ValueError("each set needs at least one phrase vector")
    # scipy's method="auto" picks exact or asymptotic once per call, from ties anywhere in the arrays; so units
    # with and without ties go in separate calls, giving each unit the p-value a call on it alone would.
    both = np.sort(np.vstack([a, b]), axis=0)
    tied = (np.diff(both, axis=0) == 0).any(axis=0)
    u, p = np.empty(a.shape[1]), np.empty(a.shape[1])
    for group in (tied, ~tied):
        if group.any():
            u[group], p[group] = mannwhitneyu(a[:, group], b[:, group], alternative="two-sided", axis=0)
    p = np.where(np.isnan(p), 1.0, p)
    df = pd.DataFrame({"unit": np.arange(a.shape[1]), "mean_a": a.mean(0), "mean_b": b.mean(0)})
    df["diff"] = df["mean_a"] - df["mean_b"]
    df["u_statistic"] = u
    df["p_value"] = p
    df["p_holm"] = holm(p)
    df["abs_diff"] = df["diff"].abs()
    df = df.sort_values(["p_value", "abs_diff", "unit"], ascending=[True, False, True], kind="stable")
    return df.drop(columns="abs_diff").reset_index(drop=True)


def phrase_vector(states: np.ndarray, i0: int, i1: int, pooling: str = "mean") -> np.ndarray:
    """One phrase occurrence's vector from its sentence's [T, H] states over units [i0, i1): the mean over the
    span, or the state at its last unit (``last``)."""
    if pooling == "mean":
        return states[i0:i1].mean(axis=0)
    if pooling == "last":
        return states[i1 - 1]
    raise ValueError(f"pooling must be mean or last, got {pooling!r}")


# ---------------------------------------------------------------------------------------------------------
# Timing and decay after a span; selectivity across phrases (the study's idiom neurons)
# ---------------------------------------------------------------------------------------------------------

def span_timecourse(sentences: list[np.ndarray], spans: list[tuple[int, int]], units, before: int = 3,
                    after: int = 20, threshold: float = THRESHOLD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How the chosen units behave around each occurrence of a span and after it ends.

    sentences[i]: one occurrence's sentence states [T, H]; spans[i]: its units [i0, i1). Step s is relative to
    the span's last unit (s = 0), from ``before`` units before the span starts to ``after`` units after it ends.
    Returns (curve, decay): curve has one row per (unit, step) with the mean state over the occurrences that
    reach that step and their count n; decay one row per unit with the mean at the span's end, the steps after
    the end until the unit first falls below ``threshold`` (median over the occurrences that were on at the end
    and fall within ``after`` steps; NaN if none falls), how many were on at the end and how many fell.
    """
    units = np.asarray(units, dtype=np.int64)
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    falls: list[list[int]] = [[] for _ in units]
    on_end = np.zeros(len(units), dtype=np.int64)
    for x, (i0, i1) in zip(sentences, spans):
        end = i1 - 1
        x = x[:, units]
        for t in range(max(0, i0 - before), min(len(x), end + after + 1)):
            s = t - end
            sums[s] = sums.get(s, 0) + x[t]
            counts[s] = counts.get(s, 0) + 1
        was_on = x[end] >= threshold
        on_end += was_on
        for j in np.flatnonzero(was_on):
            below = np.flatnonzero(x[end + 1:end + after + 1, j] < threshold)
            if len(below):
                falls[j].append(int(below[0]) + 1)
    steps = sorted(counts)
    curve = pd.DataFrame([(int(u), s, float(sums[s][j] / counts[s]), counts[s]) for j, u in enumerate(units)
                          for s in steps], columns=["unit", "step", "mean", "n"])
    at_end = sums.get(0, np.zeros(len(units))) / max(counts.get(0, 0), 1)
    decay = pd.DataFrame({"unit": units, "mean_at_end": at_end,
                          "steps_to_below": [float(np.median(f)) if f else np.nan for f in falls],
                          "on_at_end": on_end, "fell_within": [len(f) for f in falls]})
    return curve, decay


def phrase_selectivity(texts: list[str], starts, ends, sentence_states, phrases: list[str],
                       threshold: float = THRESHOLD) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which units are on over each phrase and not over its words used elsewhere (the study's idiom neurons).

    texts/starts/ends: the stored sentences and their units' character spans; sentence_states(i) -> [T, H].
    A unit is on over an occurrence when it is >= threshold at every step of it (units_on). For each phrase:
    ``response`` = the share of its occurrences a unit is on over; ``control`` = the share of the occurrences
    of the phrase's words outside any occurrence of the phrase (each word alone, its literal use) it is on over.
    Returns (per_phrase: one row per phrase and unit with response, control, selectivity = response - control,
    n_occurrences, n_controls; per_unit: per unit, how many phrases it responds to (response >= 0.5), how many it
    is selective for (response >= 0.5 and control < 0.5), and its most selective phrase; ranked by selective
    phrases, then best selectivity)."""
    cache: dict[int, np.ndarray] = {}

    def states(i):
        if i not in cache:
            cache[i] = sentence_states(i)
        return cache[i]

    def on_rate(occ) -> tuple[np.ndarray | None, int]:
        hits, n = None, 0
        for i, a, b in occ:
            span = char_span_units(starts[i], ends[i], a, b)
            if span is None:
                continue
            on = (states(i)[span[0]:span[1]] >= threshold).all(axis=0)
            hits = on.astype(np.int64) if hits is None else hits + on
            n += 1
        return (hits / n if n else None), n

    rows = []
    for p in phrases:
        occ = find_occurrences(texts, p)
        resp, n_occ = on_rate(occ)
        if resp is None:
            continue
        inside = {}
        for i, a, b in occ:
            inside.setdefault(i, []).append((a, b))
        ctrl_occ = [(i, a, b) for w in dict.fromkeys(w.lower() for w in p.split())
                    for i, a, b in find_occurrences(texts, w)
                    if not any(a >= pa and b <= pb for pa, pb in inside.get(i, []))]
        ctrl, n_ctrl = on_rate(ctrl_occ)
        ctrl = np.full_like(resp, np.nan) if ctrl is None else ctrl
        rows.append(pd.DataFrame({"phrase": p, "unit": np.arange(len(resp)), "response": resp, "control": ctrl,
                                  "selectivity": resp - np.nan_to_num(ctrl, nan=0.0), "n_occurrences": n_occ,
                                  "n_controls": n_ctrl}))
    cols = ["phrase", "unit", "response", "control", "selectivity", "n_occurrences", "n_controls"]
    per_phrase = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)
    if per_phrase.empty:
        return per_phrase, pd.DataFrame(columns=["unit", "responds_to", "selective_for", "best_phrase",
                                                 "best_selectivity"])
    per_phrase["responds"] = per_phrase["response"] >= 0.5
    per_phrase["selective"] = per_phrase["responds"] & ~(per_phrase["control"] >= 0.5)
    g = per_phrase.groupby("unit")
    best = per_phrase.loc[g["selectivity"].idxmax(), ["unit", "phrase", "selectivity"]]
    per_unit = pd.DataFrame({"unit": g.size().index, "responds_to": g["responds"].sum().to_numpy(),
                             "selective_for": g["selective"].sum().to_numpy()}).merge(
        best.rename(columns={"phrase": "best_phrase", "selectivity": "best_selectivity"}), on="unit")
    per_unit = per_unit.sort_values(["selective_for", "best_selectivity", "unit"], ascending=[False, False, True],
                                    kind="stable").reset_index(drop=True)
    return per_phrase, per_unit
