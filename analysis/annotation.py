"""Result tables of a blind annotation round (Bolukbasi et al. 2021, Table 1, Table 6 and Figure 2). Pure pandas.

Inputs are the store's frames: ``tasks`` (task_id, dataset, condition, direction_id, ...) and ``annotations``
(task_id, annotator, has_pattern, pattern, positive_ids). Only tasks with at least one annotation count.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

CONDITIONS = ("neuron", "random_direction", "random_sentences")
# Figure 2: "We required each pattern to have at least three positive examples."
MIN_POSITIVES = 3


def _joined(tasks: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    cols = ["task_id", "dataset", "condition", "direction_id"]
    a = annotations[["task_id", "annotator", "has_pattern", "pattern", "positive_ids"]]
    out = a.merge(tasks[cols], on="task_id", how="inner")
    out["has_pattern"] = out["has_pattern"].astype(bool)
    return out


def _cond_order(df: pd.DataFrame, col: str = "condition") -> pd.DataFrame:
    order = {c: i for i, c in enumerate(CONDITIONS)}
    return (df.assign(_o=df[col].map(order).fillna(len(order))).sort_values("_o", kind="stable")
            .drop(columns="_o").reset_index(drop=True))


def task_verdicts(tasks: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """One row per annotated task: verdict 'pattern' (every annotator found one), 'no pattern' (none did) or
    'conflicting' (annotators disagree). A task with one annotation takes that annotator's answer."""
    j = _joined(tasks, annotations)
    g = j.groupby(["task_id", "dataset", "condition", "direction_id"], as_index=False).agg(
        annotators=("annotator", "nunique"), yes=("has_pattern", "sum"), n=("has_pattern", "size"))
    g["verdict"] = "conflicting"
    g.loc[g["yes"] == g["n"], "verdict"] = "pattern"
    g.loc[g["yes"] == 0, "verdict"] = "no pattern"
    return g.drop(columns=["yes", "n"])


def _rates(v: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    counts = (v.assign(one=1).pivot_table(index=keys, columns="verdict", values="one", aggfunc="sum", fill_value=0)
              .reindex(columns=["pattern", "no pattern", "conflicting"], fill_value=0))
    counts.columns = ["pattern", "no_pattern", "conflicting"]
    counts = counts.reset_index()
    counts["tasks"] = counts[["pattern", "no_pattern", "conflicting"]].sum(axis=1)
    for c in ("pattern", "no_pattern", "conflicting"):
        counts[f"{c}_rate"] = counts[c] / counts["tasks"]
    single = v[v["annotators"] == 1].groupby(keys).size()
    counts["single_annotator"] = counts.set_index(keys).index.map(single).fillna(0).astype(int)
    return counts


def table1(tasks: pd.DataFrame, annotations: pd.DataFrame) -> pd.DataFrame:
    """Table 1: per condition and dataset (and dataset 'All'), how many annotated tasks show a pattern, none,
    or conflicting answers (two annotators disagree on has_pattern), with the rates of each.

    Columns: condition, dataset, tasks, pattern, no_pattern, conflicting, pattern_rate, no_pattern_rate,
    conflicting_rate, single_annotator (tasks judged by one annotator only; their answer is the verdict).
    """
    cols = ["condition", "dataset", "tasks", "pattern", "no_pattern", "conflicting", "pattern_rate",
            "no_pattern_rate", "conflicting_rate", "single_annotator"]
    v = task_verdicts(tasks, annotations)
    if v.empty:
        return pd.DataFrame(columns=cols)
    per = _rates(v, ["condition", "dataset"])
    per = per.sort_values("dataset", kind="stable")
    everything = _rates(v.assign(dataset="All"), ["condition", "dataset"])
    return _cond_order(pd.concat([per, everything], ignore_index=True)[cols])


def normalise_pattern(text: str, lemma=None) -> str:
    """A pattern for matching: case-folded, punctuation dropped (letters, digits and spaces kept),
    whitespace-collapsed; then each word's lemma when ``lemma`` (a callable str -> str over the whole pattern,
    e.g. spaCy's) is given. "Movie titles." and "movie title" match with lemmas."""
    plain = " ".join(re.sub(r"[^\w\s]|_", " ", text.casefold()).split())
    return " ".join(lemma(plain).casefold().split()) if lemma and plain else plain


def resolve_merges(merges: dict[str, str]) -> dict[str, str]:
    """{pattern: the pattern it ends up as}, following chains (a -> b, b -> c gives a -> c); a cycle keeps the
    alphabetically first pattern of the cycle as its target."""
    out = {}
    for start in merges:
        seen, p = [start], merges[start]
        while p in merges and p not in seen:
            seen.append(p)
            p = merges[p]
        out[start] = min(seen) if p in seen else p
    return out


class PatternMatcher:
    """Maps an annotation's text to its canonical patterns: ``normalise_pattern`` (with ``lemma`` when given),
    then the manual merges (``{normalised pattern: the pattern it is merged into}``, both as normalised)."""

    def __init__(self, lemma=None, merges: dict[str, str] | None = None):
        self.lemma = lemma
        self.merges = resolve_merges({normalise_pattern(a, lemma): normalise_pattern(b, lemma)
                                      for a, b in (merges or {}).items()})

    def canonical(self, pattern: str) -> str:
        p = normalise_pattern(pattern, self.lemma)
        return self.merges.get(p, p)

    def __call__(self, text) -> list[str]:
        """An annotation's patterns: its text split on ';' or newlines, each made canonical, empty ones dropped,
        in order, each once."""
        if not isinstance(text, str):
            return []
        return list(dict.fromkeys(c for c in (self.canonical(s) for s in re.split(r"[;\n]", text)) if c))


_PLAIN = PatternMatcher()


def _split_patterns(text, matcher: PatternMatcher | None = None) -> list[str]:
    return (matcher or _PLAIN)(text)


def table6(tasks: pd.DataFrame, annotations: pd.DataFrame, matcher: PatternMatcher | None = None) -> pd.DataFrame:
    """Table 6: per annotator and condition (and condition 'all'), the sets annotated, how many were judged to
    contain a pattern (with_pattern, pattern_rate) and the number of patterns named (several per set when
    separated by ';', so patterns can exceed annotations as in the paper)."""
    cols = ["annotator", "condition", "annotated", "with_pattern", "pattern_rate", "patterns_named"]
    j = _joined(tasks, annotations)
    if j.empty:
        return pd.DataFrame(columns=cols)
    j["patterns_named"] = [len(_split_patterns(p, matcher)) if h else 0 for p, h in zip(j["pattern"], j["has_pattern"])]
    both = pd.concat([j, j.assign(condition="all")], ignore_index=True)
    out = both.groupby(["annotator", "condition"], as_index=False).agg(
        annotated=("task_id", "size"), with_pattern=("has_pattern", "sum"), patterns_named=("patterns_named", "sum"))
    out["with_pattern"] = out["with_pattern"].astype(int)
    out["pattern_rate"] = out["with_pattern"] / out["annotated"]
    order = {c: i for i, c in enumerate((*CONDITIONS, "all"))}
    out = out.assign(_o=out["condition"].map(order)).sort_values(["annotator", "_o"]).drop(columns="_o")
    return out[cols].reset_index(drop=True)


def direction_patterns(tasks: pd.DataFrame, annotations: pd.DataFrame, matcher: PatternMatcher | None = None
                       ) -> pd.DataFrame:
    """Per annotated direction (condition, direction_id), across its datasets and annotators: the number of
    distinct patterns (``matcher``'s canonical forms: case, punctuation and, with a lemmatiser, word forms
    ignored, manual merges applied; ';'-separated patterns counted separately; 0 when nobody found one), the
    datasets annotated and the patterns themselves."""
    cols = ["condition", "direction_id", "datasets", "distinct_patterns", "patterns"]
    j = _joined(tasks, annotations)
    if j.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (cond, did), g in j.groupby(["condition", "direction_id"], sort=True):
        pats = sorted({p for t, h in zip(g["pattern"], g["has_pattern"]) if h for p in _split_patterns(t, matcher)})
        rows.append({"condition": cond, "direction_id": did, "datasets": g["dataset"].nunique(),
                     "distinct_patterns": len(pats), "patterns": "; ".join(pats)})
    return _cond_order(pd.DataFrame(rows, columns=cols))


def patterns_per_direction(tasks: pd.DataFrame, annotations: pd.DataFrame, matcher: PatternMatcher | None = None
                           ) -> pd.DataFrame:
    """Figure 2 (top): mean and std over directions of the number of distinct patterns per direction, by
    condition, patterns matched by ``matcher`` (see direction_patterns). The paper grouped semantically
    equivalent annotations by hand: the manual merges do that here; unmerged paraphrases count twice."""
    cols = ["condition", "directions", "mean", "std"]
    d = direction_patterns(tasks, annotations, matcher)
    if d.empty:
        return pd.DataFrame(columns=cols)
    out = d.groupby("condition", as_index=False)["distinct_patterns"].agg(
        directions="size", mean="mean", std="std")
    return _cond_order(out[cols])


def positives_per_pattern(tasks: pd.DataFrame, annotations: pd.DataFrame,
                          min_positives: int = MIN_POSITIVES) -> pd.DataFrame:
    """Figure 2 (bottom): for annotations that found a pattern with at least ``min_positives`` positive sentences
    (the paper's rule: a pattern needs three positive examples), the number of positives, by condition.

    Columns: condition, meaningful (annotations counted), mean, std, median, min, max, below_threshold
    (annotations saying 'pattern' with fewer positives: excluded from the statistics).
    """
    cols = ["condition", "meaningful", "mean", "std", "median", "min", "max", "below_threshold"]
    j = _joined(tasks, annotations)
    j = j[j["has_pattern"]]
    if j.empty:
        return pd.DataFrame(columns=cols)
    j = j.assign(positives=[len(set(p)) for p in j["positive_ids"]])
    rows = []
    for cond, g in j.groupby("condition", sort=True):
        ok = g.loc[g["positives"] >= min_positives, "positives"]
        rows.append({"condition": cond, "meaningful": len(ok), "mean": ok.mean(), "std": ok.std(),
                     "median": ok.median(), "min": ok.min(), "max": ok.max(),
                     "below_threshold": int((g["positives"] < min_positives).sum())})
    return _cond_order(pd.DataFrame(rows, columns=cols))


def locality_by_meaning(verdicts: pd.DataFrame) -> pd.DataFrame:
    """Paper Section 5.2.1: are directions whose top sentences annotators found meaningful more local?

    verdicts: one row per annotated direction task (neurons and random directions only) with columns dataset,
    verdict ('pattern' | 'no pattern' | 'conflicting') and L (the locality score of that direction on that
    dataset, pooled over its top sentences), optionally L_sentence (the mean of its top sentences' own scores,
    Table 5 as reported: its means and Mann-Whitney p are added). Conflicting sets are left out. Per dataset and over all datasets ("All"): the number and median L
    of meaningful and meaningless directions, and a two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu);
    p is NaN when either group is empty.
    """
    from scipy.stats import mannwhitneyu

    v = verdicts[verdicts["verdict"] != "conflicting"]
    rows = []
    groups = [(name, g) for name, g in v.groupby("dataset", sort=True)] + [("All", v)]
    for name, g in groups:
        yes = g.loc[g["verdict"] == "pattern", "L"].to_numpy(dtype=float)
        no = g.loc[g["verdict"] == "no pattern", "L"].to_numpy(dtype=float)
        u, p = (mannwhitneyu(yes, no, alternative="two-sided") if len(yes) and len(no) else (np.nan, np.nan))
        row = {"dataset": name, "n_meaningful": len(yes), "n_meaningless": len(no),
               "median_L_meaningful": float(np.median(yes)) if len(yes) else np.nan,
               "median_L_meaningless": float(np.median(no)) if len(no) else np.nan,
               "U": float(u), "p_value": float(p)}
        if "L_sentence" in g.columns:  # Table 5 as the study reports it: means of the per-sentence scores
            ys = g.loc[g["verdict"] == "pattern", "L_sentence"].to_numpy(dtype=float)
            ns = g.loc[g["verdict"] == "no pattern", "L_sentence"].to_numpy(dtype=float)
            ps = mannwhitneyu(ys, ns, alternative="two-sided")[1] if len(ys) and len(ns) else np.nan
            row |= {"mean_L_sentence_meaningful": float(ys.mean()) if len(ys) else np.nan,
                    "mean_L_sentence_meaningless": float(ns.mean()) if len(ns) else np.nan,
                    "p_value_sentence": float(ps)}
        rows.append(row)
    return pd.DataFrame(rows)


def pattern_counts(tasks: pd.DataFrame, annotations: pd.DataFrame, matcher: PatternMatcher | None = None
                   ) -> pd.DataFrame:
    """Every canonical pattern with the answers that name it and the raw spellings merged into it (for the
    merge table's choices), most named first."""
    cols = ["pattern", "answers", "spellings"]
    j = _joined(tasks, annotations)
    rows: dict[str, dict] = {}
    for text, h in zip(j["pattern"], j["has_pattern"]):
        if not h or not isinstance(text, str):
            continue
        for raw in (" ".join(r.split()) for r in re.split(r"[;\n]", text)):
            if not raw:
                continue
            c = (matcher or _PLAIN).canonical(raw)
            if not c:
                continue
            r = rows.setdefault(c, {"pattern": c, "answers": 0, "spellings": set()})
            r["answers"] += 1
            r["spellings"].add(raw)
    out = pd.DataFrame([{**r, "spellings": "; ".join(sorted(r["spellings"]))} for r in rows.values()], columns=cols)
    return out.sort_values(["answers", "pattern"], ascending=[False, True], kind="stable").reset_index(drop=True)
