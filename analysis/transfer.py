"""Explanation transfer: a unit's examples drawn by activation quantile, and an explanation scored on the held-out
examples of every dataset (issue 23). Pure functions: numpy/pandas in, numbers out.

The sampling follows delphi's and OpenAI's NeuronRecord scheme, per unit and per dataset:

- **activating** examples are the sentences whose activation is above the unit's threshold on that dataset. A
  sparse unit (at or below 0 on at least half the sentences and positive on some: a ReLU/GELU neuron, an SAE
  feature) is activating where it is positive, as in delphi: threshold 0. A dense unit (a residual dimension of
  MiniLM, an LSTM state: positive on more than half the sentences, or on none) has no zero to speak of, so its
  upper half counts as activating and its lower half as not: threshold = its median on the dataset, and
  "non-activating" for a dense unit means "at or below its median". Either way at most half the sentences are
  activating.
- the activating values are cut at their ``N_QUANTILES + 1`` numpy quantiles (``np.quantile``, linear) into 10
  quantiles, 1 the weakest, 10 the strongest; a value on a boundary goes to the lower quantile;
- from every quantile a seeded sample of ``per_quantile`` sentences, and ``non_activating`` sentences from those at
  or below the threshold (quantile 0); each sample is split alternately, in draw order, into a held-out half
  (first, third, ... drawn) and an explain half, so a small quantile still has a held-out example.

Quantiles are per dataset: on dataset B the question is whether the explanation tells B's own strongest
sentences from B's own non-activating ones, whatever B's scale.

Scoring is detection (delphi): an explanation is a rule that says yes or no for each sentence; on the held-out
examples, precision, recall and F1 of "activating", overall and per quantile (one quantile's examples against all
non-activating ones). The transfer drop of dataset B is F1 on B minus F1 on A, the dataset the explanation was
written on, with a bootstrap 95% interval (scipy.stats.bootstrap, BCa, examples resampled within each dataset)
and a two-sided permutation p-value (scipy.stats.permutation_test, the two datasets' examples exchanged).
"""
from __future__ import annotations

import re
import warnings
import zlib

import numpy as np
import pandas as pd
from scipy import stats

N_QUANTILES = 10
NON_ACTIVATING = 0  # the quantile number of the non-activating sample
ALPHA = 0.05
N_RESAMPLES = 999
# example codes: 2 * activating + hit (0 tn, 1 fp, 2 fn, 3 tp), the unit the bootstrap and permutations resample
TN, FP, FN, TP = 0, 1, 2, 3


# ---------------------------------------------------------------------------------------------------------------
# Sampling and summary statistics
# ---------------------------------------------------------------------------------------------------------------

def thresholds(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(threshold, sparse) per column of x [N, H]: 0 for a sparse column (median <= 0 < max), else the median."""
    x = np.asarray(x)
    if len(x) == 0:
        return np.zeros(x.shape[1:]), np.zeros(x.shape[1:], dtype=bool)
    median = np.median(x, axis=0)
    sparse = (median <= 0) & (x.max(axis=0) > 0)
    return np.where(sparse, 0.0, median), sparse


def threshold(values: np.ndarray) -> float:
    """The activation above which a sentence counts as activating (see the module docstring)."""
    return float(thresholds(np.asarray(values)[:, None])[0][0])


def quantile_bounds(active: np.ndarray, n: int = N_QUANTILES) -> np.ndarray:
    """[n + 1] boundaries of the activating values' n quantiles (np.quantile at 0, 1/n, ..., 1); NaN when none."""
    if len(active) == 0:
        return np.full(n + 1, np.nan)
    return np.quantile(np.asarray(active, dtype=np.float64), np.linspace(0.0, 1.0, n + 1))


def assign_quantiles(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Quantile 1..n of each (activating) value: q where bounds[q-1] < v <= bounds[q] (quantile 1 includes
    bounds[0])."""
    return np.searchsorted(bounds[1:-1], values, side="left").astype(np.int16) + 1


def sample_seed(seed: int, dataset: str, layer: int, pooling: str, unit: int) -> list[int]:
    """The seed sequence of one unit's sample on one dataset (the same in the build and on a page)."""
    return [int(seed), zlib.crc32(dataset.encode()), int(layer), zlib.crc32(pooling.encode()), int(unit) + 1]


def _split(picked: np.ndarray) -> np.ndarray:
    """Held-out flags of a draw, in draw order: first, third, ... held out."""
    return (np.arange(len(picked)) % 2) == 0


def quantile_sample(values: np.ndarray, per_quantile: int, non_activating: int, seed, n: int = N_QUANTILES
                    ) -> pd.DataFrame:
    """One unit's sample on one dataset. values: [N] its activation on every sentence, position = sentence id.

    Returns rows position, quantile (0 non-activating, 1..n), heldout (bool), value, in quantile then draw
    order. The threshold and bounds are taken in float64, as summary_stats takes them (a float32 median can
    differ from it in the last bit and put a boundary value on the other side)."""
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    tau = threshold(values)
    active = np.flatnonzero(values > tau)
    bounds = quantile_bounds(values[active], n)
    pools = [(NON_ACTIVATING, np.flatnonzero(values <= tau), non_activating)]
    if len(active):
        q_of = assign_quantiles(values[active], bounds)
        pools += [(q, active[q_of == q], per_quantile) for q in range(1, n + 1)]
    picks, qs, held = [], [], []
    for q, pool, m in pools:
        picked = rng.choice(pool, size=min(m, len(pool)), replace=False) if len(pool) else pool
        picks.append(picked)
        qs.append(np.full(len(picked), q, dtype=np.int16))
        held.append(_split(picked))
    position = np.concatenate(picks).astype(np.int64)
    return pd.DataFrame({"position": position, "quantile": np.concatenate(qs), "heldout": np.concatenate(held),
                         "value": values[position]})


def summary_stats(x: np.ndarray) -> pd.DataFrame:
    """Per column of x [N, H] (a dataset's sentences by units): n, mean, variance (ddof 1), skewness and
    (Fisher) kurtosis as scipy.stats.describe, threshold, n_active, density (share of sentences above 0: how
    often a sparse unit fires), kind (sparse: threshold 0; dense: threshold the median; see thresholds) and the
    activating quantiles' bounds (lists of N_QUANTILES + 1; None when no sentence is active)."""
    x = np.asarray(x, dtype=np.float64)
    n, h = x.shape
    if n >= 2:
        d = stats.describe(x, axis=0)
        mean, var, skew, kurt = d.mean, d.variance, d.skewness, d.kurtosis
    else:
        mean = x.mean(axis=0) if n else np.full(h, np.nan)
        var = skew = kurt = np.full(h, np.nan)
    taus, sparse = thresholds(x)
    active = x > taus
    bounds = [quantile_bounds(x[active[:, u], u]).tolist() if active[:, u].any() else None for u in range(h)]
    return pd.DataFrame({"unit": np.arange(h, dtype=np.int32), "n": np.int32(n), "mean": mean, "variance": var,
                         "skewness": skew, "kurtosis": kurt, "threshold": taus,
                         "n_active": active.sum(axis=0).astype(np.int32),
                         "density": (x > 0).mean(axis=0) if n else np.full(h, np.nan),
                         "kind": np.where(sparse, "sparse", "dense"), "bounds": bounds})


# ---------------------------------------------------------------------------------------------------------------
# Explanations as rules
# ---------------------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z][a-z'-]+")
FUNCTION_WORDS = frozenset("""a about an and any are as at be been being but by can could do does for from had has
have he her his how i if in into is it its me more most my neuron no not of on or our she so some such than that
the their them then there these they this those to unit was we were what when where which who will with would
you your sentence sentences text texts about mentions mention mentioning talks talking word words phrase phrases
fires activates activating""".split())


def sentence_keywords(explanation: str) -> list[str]:
    """A sentence explanation read as a keyword rule without an LLM: its content words (2+ letters, lower case,
    function words and words about the unit itself such as "neuron", "fires", "mentions" left out), in order."""
    out: list[str] = []
    for w in _WORD.findall(explanation.lower()):
        if w not in FUNCTION_WORDS and w not in out:
            out.append(w)
    if not out:
        raise ValueError("the explanation has no content word to look for")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Detection scores
# ---------------------------------------------------------------------------------------------------------------

def codes(active, hit) -> np.ndarray:
    """2 * activating + hit per example: TN 0, FP 1, FN 2, TP 3."""
    return (2 * np.asarray(active, dtype=np.int8) + np.asarray(hit, dtype=np.int8)).astype(np.int8)


def _prf(tp, fp, fn):
    """Precision, recall and F1 from counts (arrays), 0 where undefined (sklearn's zero_division=0)."""
    tp, fp, fn = (np.asarray(a, dtype=np.float64) for a in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return precision, recall, f1


def f1_of_codes(c: np.ndarray, axis: int = -1) -> np.ndarray:
    """F1 of examples given as codes, along ``axis`` (vectorised for scipy's resampling)."""
    c = np.asarray(c)
    tp, fp, fn = ((c == k).sum(axis=axis) for k in (TP, FP, FN))
    return _prf(tp, fp, fn)[2]


def group_counts(group: np.ndarray, c: np.ndarray, n_groups: int) -> np.ndarray:
    """[n_groups, 4] counts of each code per group (group ids 0..n_groups-1): one bincount for every group."""
    return np.bincount(np.asarray(group, dtype=np.int64) * 4 + c, minlength=4 * n_groups).reshape(n_groups, 4)


def detection_scores(examples: pd.DataFrame, by=("dataset",)) -> pd.DataFrame:
    """Detection on held-out examples (columns ``by``, quantile, hit): per group of ``by``, overall (all
    activating against all non-activating) and per quantile (that quantile's examples against the group's
    non-activating ones). Rows: *by, quantile ("all" or 1..n), n_active, n_non, tp, fp, fn, tn, precision,
    recall, f1."""
    by = list(by)
    e = examples.reset_index(drop=True)
    keys = e[by].drop_duplicates().sort_values(by).reset_index(drop=True)
    gid = e[by].merge(keys.reset_index(), on=by, how="left")["index"].to_numpy()
    q = e["quantile"].to_numpy(np.int64)
    c = codes(q != NON_ACTIVATING, e["hit"].to_numpy(bool))
    g = len(keys)
    overall = group_counts(gid, c, g)
    per_q = group_counts(gid * (N_QUANTILES + 1) + q, c, g * (N_QUANTILES + 1)).reshape(g, N_QUANTILES + 1, 4)
    rows = [keys.assign(quantile="all", tp=overall[:, TP], fp=overall[:, FP], fn=overall[:, FN],
                        tn=overall[:, TN])]
    fp, tn = per_q[:, NON_ACTIVATING, FP], per_q[:, NON_ACTIVATING, TN]
    for k in range(1, N_QUANTILES + 1):
        rows.append(keys.assign(quantile=str(k), tp=per_q[:, k, TP], fp=fp, fn=per_q[:, k, FN], tn=tn))
    out = pd.concat(rows, ignore_index=True)
    out["n_active"] = out["tp"] + out["fn"]
    out["n_non"] = out["fp"] + out["tn"]
    out = out[out["n_active"] > 0].copy()
    out["precision"], out["recall"], out["f1"] = _prf(out["tp"], out["fp"], out["fn"])
    order = {"all": 0, **{str(k): k for k in range(1, N_QUANTILES + 1)}}
    out = out.sort_values(by + ["quantile"], key=lambda s: s.map(order) if s.name == "quantile" else s)
    return out[by + ["quantile", "n_active", "n_non", "tp", "fp", "fn", "tn", "precision", "recall", "f1"]
               ].reset_index(drop=True)


def chance_f1(n_active: int, n_non: int, n_yes: int) -> float:
    """Expected F1 of a rule that says yes to ``n_yes`` of the examples at random: precision is the base rate b,
    recall the yes rate y, F1 = 2 b y / (b + y). The chance level of an explanation that says yes as often (for
    a rule that says yes to all, the F1 of answering yes: 2 b / (1 + b))."""
    n = n_active + n_non
    if n == 0 or n_active == 0 or n_yes == 0:
        return 0.0
    b, y = n_active / n, n_yes / n
    return 2 * b * y / (b + y)


def _ci(res) -> tuple[float, float]:
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def f1_interval(c: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES, level: float = 0.95):
    """Bootstrap (BCa) interval of F1 over examples ``c`` (codes); NaNs when it cannot be computed (fewer than
    two examples, or every resample the same)."""
    c = np.asarray(c)
    if len(c) < 2 or len(np.unique(c)) < 2:
        return float("nan"), float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # a degenerate case gives NaNs, as documented
        res = stats.bootstrap((c,), f1_of_codes, vectorized=True, n_resamples=n_resamples, confidence_level=level,
                              method="BCa", rng=np.random.default_rng(seed))
    return _ci(res)


def _drop(a, b, axis=-1):
    return f1_of_codes(b, axis=axis) - f1_of_codes(a, axis=axis)


def drop_test(ca: np.ndarray, cb: np.ndarray, seed: int = 0, n_resamples: int = N_RESAMPLES, level: float = 0.95
              ) -> dict:
    """F1 on B minus F1 on A (codes ca, cb): drop, its bootstrap interval (lo, hi; each dataset resampled on its
    own, BCa) and the two-sided permutation p-value of "A's and B's examples are exchangeable"."""
    ca, cb = np.asarray(ca), np.asarray(cb)
    out = {"drop": float(_drop(ca, cb)), "lo": float("nan"), "hi": float("nan"), "p_value": float("nan")}
    if len(ca) < 2 or len(cb) < 2:
        return out
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        if len(np.unique(np.concatenate([ca, cb]))) > 1:
            res = stats.bootstrap((ca, cb), _drop, vectorized=True, n_resamples=n_resamples, confidence_level=level,
                                  method="BCa", rng=rng)
            out["lo"], out["hi"] = _ci(res)
        perm = stats.permutation_test((ca, cb), _drop, permutation_type="independent", vectorized=True,
                                      n_resamples=n_resamples, alternative="two-sided", rng=rng)
    out["p_value"] = float(perm.pvalue)
    return out


def verdict_of(row, alpha: float = ALPHA) -> str:
    """One dataset's verdict: reference; breaks (F1 significantly lower than on the reference: p < alpha and the
    drop's interval below 0); better (significantly higher); at chance (no significant change, but F1's interval
    reaches down to a random rule saying yes as often); holds (no significant drop, and F1's interval above
    chance)."""
    if row["reference"]:
        return "reference"
    significant = row["p_value"] < alpha
    if significant and row["hi"] < 0:
        return "breaks"
    if significant and row["lo"] > 0:
        return "better"
    # above chance: the whole F1 interval above a random rule's F1 (the point estimate when there is no interval)
    low = row["f1_lo"] if np.isfinite(row.get("f1_lo", np.nan)) else row["f1"]
    return "at chance" if low <= row["chance_f1"] else "holds"


def transfer_table(examples: pd.DataFrame, reference: str, seed: int = 0, n_resamples: int = N_RESAMPLES,
                   alpha: float = ALPHA) -> pd.DataFrame:
    """Per dataset, on held-out examples (dataset, quantile, hit): the overall detection scores, F1's bootstrap
    interval, the chance level (chance_f1 at the explanation's own yes rate), the drop against ``reference`` with its interval and
    permutation p-value, and the verdict (verdict_of; "no signal on reference" everywhere when the explanation
    does no better than chance on the reference itself)."""
    scores = detection_scores(examples)
    overall = scores[scores["quantile"] == "all"].drop(columns="quantile").set_index("dataset")
    if reference not in overall.index:
        raise ValueError(f"no held-out activating example on the reference dataset {reference!r}")
    by = {d: codes(g["quantile"].to_numpy() != NON_ACTIVATING, g["hit"].to_numpy(bool))
          for d, g in examples.groupby("dataset", sort=True)}
    rows = []
    for d in overall.index:
        lo, hi = f1_interval(by[d], seed, n_resamples)
        t = drop_test(by[reference], by[d], seed, n_resamples) if d != reference else \
            {"drop": 0.0, "lo": float("nan"), "hi": float("nan"), "p_value": float("nan")}
        rows.append({"dataset": d, "reference": d == reference, "f1_lo": lo, "f1_hi": hi,
                     "chance_f1": chance_f1(int(overall.loc[d, "n_active"]), int(overall.loc[d, "n_non"]),
                                            int(overall.loc[d, "tp"] + overall.loc[d, "fp"])),
                     "drop": t["drop"], "drop_lo": t["lo"], "drop_hi": t["hi"], "p_value": t["p_value"]})
    out = overall.reset_index().merge(pd.DataFrame(rows), on="dataset")
    out["verdict"] = [verdict_of({"reference": r.reference, "p_value": r.p_value, "lo": r.drop_lo, "hi": r.drop_hi,
                                  "f1": r.f1, "f1_lo": r.f1_lo, "chance_f1": r.chance_f1}, alpha)
                      for r in out.itertuples()]
    ref = out["reference"].to_numpy()
    if (out.loc[ref, "f1"] <= out.loc[ref, "chance_f1"]).all():  # nothing to transfer: no verdict elsewhere
        out.loc[~ref, "verdict"] = "no signal on reference"
    return out[["dataset", "verdict", "f1", "f1_lo", "f1_hi", "chance_f1", "precision", "recall", "drop", "drop_lo",
                "drop_hi", "p_value", "n_active", "n_non", "tp", "fp", "fn", "tn", "reference"]]


def statement(table: pd.DataFrame, reference: str, alpha: float = ALPHA) -> str:
    """Where the explanation holds and where it breaks, in one paragraph."""
    ref = table.set_index("dataset").loc[reference]
    head = (f"Written on {reference}: F1 {ref['f1']:.2f} on its held-out examples (saying yes as often at random "
            f"would give {ref['chance_f1']:.2f}).")
    if ref["f1"] <= ref["chance_f1"]:
        return head + (" It does not pick out the unit's activating examples even there, so there is nothing to "
                       "transfer.")
    parts = [head]
    for verdict, words in (("holds", "Holds (no significant drop, permutation p ≥ {a:g})"),
                           ("better", "Works better"), ("at chance", "No significant drop, but not clearly above chance"),
                           ("breaks", "Breaks (F1 significantly lower, p < {a:g})")):
        rows = table[table["verdict"] == verdict]
        if len(rows):
            items = ", ".join(f"{r.dataset} (F1 {r.f1:.2f}, drop {r.drop:+.2f}"
                              + (f" [{r.drop_lo:+.2f}, {r.drop_hi:+.2f}])" if np.isfinite(r.drop_lo) else ")")
                              for r in rows.itertuples())
            parts.append(f"{words.format(a=alpha)} on {items}.")
    return " ".join(parts)
