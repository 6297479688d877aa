"""How contextual are the representations (Ethayarajh 2019, "How contextual are contextualized word
representations?"), as pure numpy functions. The pipeline stage computes them; the page reads the results.

Definitions (a "word vector" is one occurrence of a word in one sentence, at one layer):

- **Words and their vectors.** A word is a match of ``WORD_RE`` in the text (letters, with inner
  apostrophes: ``don't``, ``n't``), lower-cased to give its type. Its vector at a layer is the mean of the
  states of the runner's units (WordPieces for a transformer, characters for the LSTM) whose character span
  lies inside the word's span. A word split into pieces is the mean of its pieces; a unit that crosses the
  word's edge (e.g. ``[UNK]`` for "café😀") is never used, and a word with no unit inside it (cut off by
  truncation) has no vector.
- **Self-similarity** of a word with vectors v_1..v_n from n different sentences: the mean cosine over the
  n(n-1)/2 pairs. Averaged over words for a layer.
- **Intra-sentence similarity** of a sentence with word vectors w_1..w_m (m >= 2): s = mean of the w_i; the
  mean of cos(w_i, s). Averaged over sentences.
- **Anisotropy baseline**: the mean cosine over all pairs of a set of word vectors drawn uniformly at random
  from the word tokens, at most one per sentence (so every pair comes from two different contexts).
- **Maximum explainable variance (MEV)** of a word: the share of the variance of its centred [n, H] context
  matrix on its first principal component (sklearn ``PCA().explained_variance_ratio_[0]``).
- **Adjusted**: self-similarity and intra-sentence similarity minus the layer's baseline; MEV minus the mean
  MEV of random sets of the same size n drawn from the baseline's random word vectors.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
POOLED = "(pooled)"  # the dataset value of rows that pool every dataset


def word_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, lower-cased word) of every word in ``text``, in order: the one tokenisation rule of
    the stage, the same for every runner."""
    return [(m.start(), m.end(), m.group().lower()) for m in WORD_RE.finditer(text)]


def unit_word_weights(offsets: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """float32 [W, T]: row w averages the units inside word w (1/k on its k units, 0 elsewhere).

    offsets: int [T, 2] each unit's [start, end) in the text; spans: int [W, 2] each word's [start, end).
    A unit belongs to a word when start_w <= start_u and end_u <= end_w (and it is not empty). A word with no
    such unit gets a row of zeros (see ``n_units``).
    """
    offsets = np.asarray(offsets).reshape(-1, 2)
    spans = np.asarray(spans).reshape(-1, 2)
    inside = ((offsets[None, :, 0] >= spans[:, None, 0]) & (offsets[None, :, 1] <= spans[:, None, 1])
              & (offsets[None, :, 1] > offsets[None, :, 0]))
    counts = inside.sum(1, keepdims=True)
    return (inside / np.maximum(counts, 1)).astype(np.float32)


def word_vectors(offsets: np.ndarray, states: np.ndarray, spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word vectors of one text at every layer: (float32 [L, W, H], n_units int [W]).

    states: float32 [L, T, H] (``TokenStates.states``). A word with n_units 0 has a zero vector: skip it.
    """
    weights = unit_word_weights(offsets, spans)
    n_units = (weights > 0).sum(1)
    # matmul, not einsum: einsum's tensordot path degrades badly when BLAS threads contend for the cores
    return np.matmul(weights[None], np.asarray(states, dtype=np.float32)), n_units


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def self_similarity(x: np.ndarray) -> np.ndarray:
    """Mean pairwise cosine of the n vectors on the second-to-last axis: x [..., n, H] -> [...] (n >= 2).

    Uses |sum of unit vectors|^2 = n + 2 * sum over pairs of their cosines, so it is O(n H), not O(n^2 H).
    """
    u = _unit(x)
    n = u.shape[-2]
    if n < 2:
        raise ValueError(f"self-similarity needs at least 2 vectors, got {n}")
    total = u.sum(-2)
    return ((total * total).sum(-1) - (u * u).sum((-1, -2))) / (n * (n - 1))


def mev(x: np.ndarray) -> np.ndarray:
    """Maximum explainable variance: the first principal component's share of the variance of the centred
    [n, H] matrix on the last two axes. x [..., n, H] -> [...]; NaN where all n vectors are equal.

    The eigenvalues of the centred n x n Gram matrix are the PCA variances (times n - 1), so this is
    sklearn ``PCA().fit(x).explained_variance_ratio_[0]`` without the [H, H] covariance.
    """
    x = np.asarray(x, dtype=np.float64)
    xc = x - x.mean(-2, keepdims=True)
    gram = xc @ np.swapaxes(xc, -1, -2)
    eig = np.linalg.eigvalsh(gram)  # ascending
    total = eig.sum(-1)
    # No variance at all (n equal vectors, up to rounding of the mean): no first component to speak of.
    flat = total <= 1e-12 * (x * x).sum((-1, -2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(flat, np.nan, eig[..., -1] / np.where(flat, 1.0, total))


def intra_sentence_similarity(words: np.ndarray) -> np.ndarray:
    """Mean cosine between each word vector of a sentence and the sentence's mean word vector.
    words [..., m, H] (m >= 2 words) -> [...]."""
    words = np.asarray(words, dtype=np.float64)
    if words.shape[-2] < 2:
        raise ValueError(f"intra-sentence similarity needs at least 2 words, got {words.shape[-2]}")
    s = _unit(words.mean(-2, keepdims=True))
    return (_unit(words) * s).sum(-1).mean(-1)


def random_baseline(x: np.ndarray) -> np.ndarray:
    """The anisotropy baseline: mean cosine over all pairs of random word vectors x [..., N, H] (each from a
    different sentence). The same formula as self-similarity, over random words instead of one word."""
    return self_similarity(x)


def random_mev(x: np.ndarray, size: int, n_sets: int, seed: int) -> np.ndarray:
    """Mean MEV of ``n_sets`` random subsets of ``size`` rows of x [..., N, H] (the same subsets at every
    leading index, drawn without replacement, seeded): what MEV a word would get by chance with ``size``
    contexts. -> [...]"""
    n = x.shape[-2]
    if size < 2 or size > n:
        raise ValueError(f"random MEV: size must be between 2 and {n}, got {size}")
    rng = np.random.default_rng([seed, size])
    picks = np.stack([rng.choice(n, size=size, replace=False) for _ in range(n_sets)])  # [S, size]
    sets = np.take(x, picks, axis=-2)  # [..., S, size, H]
    return np.nanmean(mev(sets), axis=-1)


# ------------------------------------------------------------------------------------------------------
# Reading the curves
# ------------------------------------------------------------------------------------------------------

def depth_groups(layer_names: list[str]) -> dict[str, list[int]]:
    """Layers that form one stream ordered by depth: {stream: [layer indices, shallow to deep]}.

    LSTM layers named ``lstm{k}.{stream}`` split into one group per stream (hidden, cell): the layer index
    interleaves them, so it is not a depth. Anything else is one group in index order.
    """
    groups: dict[str, list[tuple[int, int]]] = {}
    for i, name in enumerate(layer_names):
        m = re.fullmatch(r"lstm(\d+)\.(\w+)", str(name))
        if m is None:
            return {"all layers": list(range(len(layer_names)))}
        groups.setdefault(m.group(2), []).append((int(m.group(1)), i))
    return {k: [i for _, i in sorted(v)] for k, v in groups.items()}


def decimals(a: float, b: float, least: int = 3, most: int = 6) -> int:
    """Decimals that show two numbers as different when they are (3 unless they agree to 3 decimals)."""
    gap = abs(a - b)
    if not np.isfinite(gap) or gap == 0:
        return least
    return int(min(most, max(least, np.ceil(-np.log10(gap)) + 1)))


def depth_trend(values: np.ndarray) -> dict:
    """How a metric moves with depth, from its per-layer values (shallow to deep).

    Returns first, last, change (last - first), the Spearman rho of depth vs value (NaN with < 3 layers or a
    constant curve) and ``falls``: True when the last layer is below the first and, with 3+ layers, rho < 0.
    """
    from scipy.stats import spearmanr

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2 or np.isnan(v).any():
        return {"first": float(v[0]) if len(v) else np.nan, "last": float(v[-1]) if len(v) else np.nan,
                "change": np.nan, "rho": np.nan, "falls": False}
    rho = np.nan
    if len(v) >= 3 and np.ptp(v) > 0:
        rho = float(spearmanr(np.arange(len(v)), v).statistic)
    falls = bool(v[-1] < v[0] and (len(v) < 3 or (not np.isnan(rho) and rho < 0)))
    return {"first": float(v[0]), "last": float(v[-1]), "change": float(v[-1] - v[0]), "rho": rho,
            "falls": falls}


def trend_sentence(metric: str, layers: pd.DataFrame, column: str) -> str:
    """One plain sentence about ``column`` across ``layers`` (rows shallow to deep, with layer and name)."""
    t = depth_trend(layers[column].to_numpy())
    first, last = layers.iloc[0], layers.iloc[-1]
    d = decimals(t["first"], t["last"])
    span = f"from {t['first']:.{d}f} at layer {int(first['layer'])} ({first['name']}) to {t['last']:.{d}f} at " \
           f"layer {int(last['layer'])} ({last['name']})"
    rho = "" if np.isnan(t["rho"]) else f", Spearman ρ of depth vs value = {t['rho']:+.2f} over {len(layers)} layers"
    values = layers[column].to_numpy(dtype=np.float64)
    if len(values) >= 3 and not np.isnan(values).any():
        low = int(np.argmin(values))
        if 0 < low < len(values) - 1:  # the curve turns: say where
            rho += f"; lowest at layer {int(layers.iloc[low]['layer'])} ({values[low]:.{d}f})"
    if t["falls"]:
        return f"{metric} **falls** with depth: {span}{rho}."
    if t["last"] > t["first"]:
        return f"{metric} does **not** fall with depth, it rises: {span}{rho}."
    return f"{metric} does **not** fall steadily with depth: {span}{rho}."


def relative_depth(layer_names: list[str]) -> pd.DataFrame:
    """Where each layer sits in its run, for one chart across runs: layer, stream, depth in [0, 1].

    Transformer: layer l of L - 1 blocks is at l / (L - 1) (the embedding output at 0). LSTM ``lstm{k}.{s}``:
    k / K in stream s (the character embedding, not stored, would be 0).
    """
    groups = depth_groups(layer_names)
    rows = []
    for stream, layers in groups.items():
        if stream == "all layers":
            rows += [(i, "", i / max(1, len(layers) - 1)) for i in layers]
        else:
            rows += [(i, stream, (j + 1) / len(layers)) for j, i in enumerate(layers)]
    return pd.DataFrame(rows, columns=["layer", "stream", "depth"]).sort_values("layer", ignore_index=True)


def mark_word(text: str, start: int, end: int) -> str:
    """Markdown of ``text`` with [start, end) in bold, every other Markdown character escaped."""
    def esc(s: str) -> str:
        return re.sub(r"([\\`*_{}\[\]<>#|~$])", r"\\\1", s).replace("\n", " ")

    out = f"{esc(text[:start])}**{esc(text[start:end])}**{esc(text[end:])}"
    # a leading "1." or "-" would start a list inside the list item
    return re.sub(r"^(\s*)(\d+)([.)])", r"\1\2\\\3", re.sub(r"^(\s*)([-+])", r"\1\\\2", out))


# The study's four findings, judged on one run's pooled numbers. The two thresholds are the study's words
# made explicit: "high" cosine between random words, and MEV "almost 1".
CONE_BASELINE = 0.1
STATIC_MEV = 0.9


def _trend_text(values: np.ndarray) -> str:
    t = depth_trend(values)
    rho = "" if np.isnan(t["rho"]) else f", ρ {t['rho']:+.2f}"
    d = decimals(t["first"], t["last"])
    return f"{t['first']:.{d}f} → {t['last']:.{d}f}{rho}"


def study_findings(layers: pd.DataFrame, static: pd.DataFrame, overlap: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study's four findings on one run: finding, measured (text), holds (bool).

    layers: the run's pooled rows (layer, layer_name, self_sim, self_sim_adj, intra_sim, intra_sim_adj,
    baseline), one per layer; static: words ranked by their lowest MEV over the layers (word, min_mev,
    min_mev_adj), best first (``anisotropy_static_across``); overlap: ``context_overlap`` of (at least) the top
    static word, to say whether its contexts repeat each other. Depth trends are taken per stream
    (``depth_groups``); a finding about depth holds when it holds in every stream.
    """
    layers = layers.sort_values("layer").reset_index(drop=True)
    groups = depth_groups(layers["layer_name"].tolist())
    rows = []
    for col, finding in [("self_sim", "Self-similarity falls in higher layers"),
                         ("intra_sim", "Intra-sentence similarity falls in higher layers")]:
        parts, holds = [], True
        for stream, idx in groups.items():
            sub = layers.set_index("layer").loc[idx]
            raw, adj = sub[col].to_numpy(), sub[f"{col}_adj"].to_numpy()
            holds &= depth_trend(raw)["falls"]
            label = "" if stream == "all layers" else f"{stream}: "
            parts.append(f"{label}{_trend_text(raw)} (adjusted {_trend_text(adj)}, "
                         f"{'falls' if depth_trend(adj)['falls'] else 'does not fall'})")
        rows.append((finding, "; ".join(parts), bool(holds)))
    base = layers["baseline"].to_numpy()
    n_cone = int((base > CONE_BASELINE).sum())
    rows.append(("Random words have high cosine similarity: a cone, not a ball",
                 f"random-word cosine {base.min():.3f} to {base.max():.3f} across layers; above {CONE_BASELINE} at "
                 f"{n_cone} of {len(base)} layers (isotropic vectors give about 0)", n_cone == len(base)))
    if static.empty:
        rows.append(("Some words keep almost all their variance in one direction (MEV near 1 at every layer)",
                     "no word has an MEV at every layer", False))
    else:
        top = static.iloc[0]
        n_static = int((static["min_mev"] >= STATIC_MEV).sum())
        text = (f"most static word '{top['word']}': MEV ≥ {top['min_mev']:.3f} at every layer (adjusted ≥ "
                f"{top['min_mev_adj']:.3f}); {n_static} of the listed words reach {STATIC_MEV} at every layer")
        if overlap is not None and top["word"] in set(overlap["word"]):
            o = overlap.set_index("word").loc[top["word"]]
            text += (f"; its {int(o['n'])} contexts overlap by {o['overlap']:.2f} (Jaccard of their words) and "
                     f"{o['same_left']:.0%} of their pairs share the text before it")
        rows.append(("Some words keep almost all their variance in one direction (MEV near 1 at every layer)", text,
                     bool(top["min_mev"] >= STATIC_MEV)))
    return pd.DataFrame(rows, columns=["finding", "measured", "holds"])


def compare_runs_text(both: pd.DataFrame, metric: str) -> str:
    """Whether one chart of ``metric`` across runs means anything, from the numbers.

    both: pooled rows of every run with run_id, stream ('' for a transformer), depth (``relative_depth``),
    baseline and ``metric``. Two checks: how far apart the runs' baselines are (raw levels then mostly measure
    anisotropy), and, for runs with several streams, whether the streams at the same depth differ by more
    than the other runs change over their whole depth (then "the LSTM's curve" depends on the stream picked).
    """
    lines = both.groupby(["run_id", "stream"])
    base = lines["baseline"].mean()
    parts = ["mean random-word cosine per line: " + ", ".join(
        f"{r}{(' ' + s) if s else ''} {v:.2f}" for (r, s), v in base.items())]
    ranges = lines[metric].agg(lambda v: v.max() - v.min())
    verdict = "the runs compare on this metric"
    spread = float(base.max() - base.min())
    if not metric.endswith("_adj") and metric != "baseline" and spread > float(ranges.max()):
        parts.append(f"the baselines are {spread:.2f} apart, more than any line's change over depth "
                     f"({float(ranges.max()):.3f}), so raw {metric} levels largely say how anisotropic each space is")
        verdict = f"raw levels not comparable across runs: use {metric}_adj"
    for run_id, grp in both.groupby("run_id"):
        if grp["stream"].nunique() < 2:
            continue
        others = ranges.drop(run_id, level=0)
        if others.empty:
            continue
        gap = float(grp.groupby("depth")[metric].agg(lambda v: v.max() - v.min()).mean())
        depth_change = float(others.max())
        many = len(others) > 1
        parts.append(f"`{run_id}`'s streams at the same depth differ by {gap:.3f} on average, "
                     f"{'more' if gap > depth_change else 'less'} than the other run{'s' if many else ''} "
                     f"change{'' if many else 's'} over {'their' if many else 'its'} whole depth ({depth_change:.3f})")
        if gap > depth_change:
            verdict = (f"not meaningful as one curve per run: on {metric}, which stream of `{run_id}` is plotted "
                       f"matters more than depth does in the other run, so compare a stream at a time")
    return f"One chart, with care ({verdict}): " + "; ".join(parts) + "."


def context_overlap(contexts: pd.DataFrame) -> pd.DataFrame:
    """How much a word's contexts repeat each other: per word, over the pairs of its contexts,
    ``overlap`` = mean Jaccard similarity of the two sentences' lower-cased word sets, and ``same_left`` =
    share of pairs whose text before the word is identical (for a left-to-right model such as the LSTM, the
    word's vectors are then exactly equal).

    contexts: word, char_start, text (one row per context). -> word, n, overlap, same_left.
    """
    rows = []
    for word, grp in contexts.groupby("word", sort=True):
        sets = [frozenset(w for _, _, w in word_spans(t)) for t in grp["text"]]
        lefts = [t[:a] for t, a in zip(grp["text"], grp["char_start"])]
        n = len(sets)
        pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
        if not pairs:
            continue
        jac = [len(sets[i] & sets[j]) / max(1, len(sets[i] | sets[j])) for i, j in pairs]
        same = [lefts[i] == lefts[j] for i, j in pairs]
        rows.append((word, n, float(np.mean(jac)), float(np.mean(same))))
    return pd.DataFrame(rows, columns=["word", "n", "overlap", "same_left"])
