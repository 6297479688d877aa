"""The explanation-transfer page's data: a unit's quantile sample per dataset (stored by the quantiles stage, or
drawn here the same way for a layer or direction the build did not store), the explanation's yes/no on every
held-out example (a rule, or an LLM judge at an OpenAI-compatible endpoint the user configures), the transfer
table and its charts. The maths is in analysis.transfer."""
from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import annotations as store
from analysis import drift_view as dv
from analysis import transfer as tr
from analysis.illusion import centroid_hits, concept_hits, parse_labelled
from ui import data
from ui.db import connection
from warehouse import queries

KINDS = {"keywords": "keywords", "regex": "regex", "labelled": "labelled sentences",
         "sentence": "a sentence", "annotation": "a blind annotation's pattern"}
PER_QUANTILE, NON_ACTIVATING = 8, 80  # the quantiles stage's defaults (QuantilesConfig), for samples drawn here

# --- The quantile sample ------------------------------------------------------------------------------------------


@dataclass
class Sample:
    examples: pd.DataFrame  # dataset, quantile, heldout, sentence_id, value, text
    stats: pd.DataFrame  # dataset, n, mean, variance, skewness, kurtosis, threshold, n_active, density, kind, bounds
    stored: bool  # read from the warehouse (else drawn here)


def _build_settings() -> dict:
    """The build's [quantiles] settings (the stage's defaults when the manifest has none)."""
    facts = dict(queries.manifest(connection()).itertuples(index=False))
    try:
        section = json.loads(facts.get("config_json") or "{}").get("quantiles") or {}
    except ValueError:
        section = {}
    return {"per_quantile": int(section.get("per_quantile", PER_QUANTILE)),
            "non_activating": int(section.get("non_activating", NON_ACTIVATING)), "seed": int(section.get("seed", 0))}


@st.cache_data(max_entries=16, show_spinner="Drawing the quantile sample…")
def _sample(ident: tuple, run_id: str, layer: int, pooling: str, unit: int | None, vector: tuple, label: str,
            datasets: tuple) -> tuple[pd.DataFrame, pd.DataFrame, bool]:
    con = connection()
    if unit is not None:
        have = queries.quantile_layers(con, run_id)
        stored = bool(((have["layer"] == layer) & (have["pooling"] == pooling)).any())
    else:
        stored = False
    if stored:
        ex = queries.quantile_examples(con, run_id, layer, pooling, unit, list(datasets))
        return ex, queries.quantile_stats(con, run_id, layer, pooling, unit, list(datasets)), True
    s = _build_settings()
    scores = (queries.neuron_scores(con, run_id, layer, pooling, unit, list(datasets)) if unit is not None else
              queries.direction_scores(con, run_id, layer, pooling, list(vector), list(datasets)))
    key = unit if unit is not None else zlib.crc32(label.encode())
    parts, stats = [], []
    for d in datasets:
        g = scores[scores["dataset"] == d].sort_values("sentence_id")
        values = g["value"].to_numpy(np.float32)
        ex = tr.quantile_sample(values, s["per_quantile"], s["non_activating"],
                                tr.sample_seed(s["seed"], d, layer, pooling, key))
        ex["sentence_id"] = g["sentence_id"].to_numpy()[ex.pop("position").to_numpy()]
        parts.append(ex.assign(dataset=d))
        stats.append(tr.summary_stats(values[:, None]).drop(columns="unit").assign(dataset=d))
    ex = data.with_texts(pd.concat(parts, ignore_index=True))
    ex = ex[["dataset", "quantile", "heldout", "sentence_id", "value", "text"]].sort_values(
        ["dataset", "quantile", "value"], ascending=[True, False, False], ignore_index=True)
    st_ = pd.concat(stats, ignore_index=True)
    return ex, st_[["dataset"] + [c for c in st_.columns if c != "dataset"]], False


def sample(sel, direction, datasets: list[str]) -> Sample:
    vector = () if direction.unit is not None else tuple(float(v) for v in direction.vector)
    ex, stats, stored = _sample(data.identity(), sel.run_id, sel.layer, sel.pooling, direction.unit, vector,
                                direction.label, tuple(datasets))
    return Sample(ex, stats, stored)


def explain_examples(s: Sample, dataset: str) -> pd.DataFrame:
    """The explain half of ``dataset``, strongest quantile first."""
    e = s.examples
    return e.loc[(e["dataset"] == dataset) & ~e["heldout"], ["quantile", "value", "text", "sentence_id"]]


def stats_table(s: Sample) -> pd.DataFrame:
    t = s.stats.copy()
    t["bounds"] = [", ".join(f"{v:.3g}" for v in b) if isinstance(b, (list, np.ndarray)) else "" for b in t["bounds"]]
    return t


# --- The explanation's answers --------------------------------------------------------------------------------


def llm_config() -> dict | None:
    """The LLM judge's endpoint from $ILLUSION_LLM_URL (an OpenAI-compatible base URL such as a local vLLM or
    Ollama's http://127.0.0.1:11434/v1), $ILLUSION_LLM_MODEL and optionally $ILLUSION_LLM_API_KEY; None (off)
    unless the URL and model are set."""
    url, model = os.environ.get("ILLUSION_LLM_URL", "").strip(), os.environ.get("ILLUSION_LLM_MODEL", "").strip()
    if not url or not model:
        return None
    return {"url": url.rstrip("/"), "model": model, "key": os.environ.get("ILLUSION_LLM_API_KEY", "")}


JUDGE_PROMPT = ("You judge an explanation of a neuron in a language model. The explanation says which texts make "
                "the neuron activate. For each numbered text below, answer 1 if the explanation says the neuron "
                "activates on it, else 0. Reply with a JSON list of {n} integers (0 or 1), nothing else.")


def _ask(cfg: dict, explanation: str, texts: list[str], timeout: float) -> list[int]:
    numbered = "\n".join(f"{i + 1}. {t}" for i, t in enumerate(texts))
    body = {"model": cfg["model"], "temperature": 0,
            "messages": [{"role": "system", "content": JUDGE_PROMPT.format(n=len(texts))},
                         {"role": "user", "content": f"Explanation: {explanation}\n\nTexts:\n{numbered}"}]}
    headers = {"Content-Type": "application/json"}
    if cfg.get("key"):
        headers["Authorization"] = f"Bearer {cfg['key']}"
    req = urllib.request.Request(cfg["url"] + "/chat/completions", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            reply = json.loads(r.read().decode())["choices"][0]["message"]["content"]
    except (urllib.error.URLError, OSError, KeyError, IndexError, ValueError) as e:
        raise ValueError(f"LLM judge at {cfg['url']}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                         ) from None
    found = re.search(r"\[[\s\d,]*\]", reply or "")
    answers = json.loads(found.group(0)) if found else None
    if not isinstance(answers, list) or len(answers) != len(texts) or any(a not in (0, 1) for a in answers):
        raise ValueError(f"LLM judge at {cfg['url']}: expected a JSON list of {len(texts)} 0/1 answers, got "
                         f"{(reply or '')[:80]!r}")
    return [int(a) for a in answers]


def llm_hits(cfg: dict, explanation: str, texts: list[str], batch: int = 10, timeout: float = 60.0) -> np.ndarray:
    """The judge's yes/no for every text, asked ``batch`` texts at a time (delphi's detection prompt, in short).
    Raises ValueError (one line) for an unreachable endpoint or an unreadable reply."""
    out: list[int] = []
    for i in range(0, len(texts), batch):
        out += _ask(cfg, explanation, texts[i:i + batch], timeout)
    return np.array(out, dtype=bool)


@st.cache_data(max_entries=32, show_spinner="Asking the LLM judge…")
def _llm_hits(url: str, model: str, key: str, explanation: str, texts: tuple) -> np.ndarray:
    return llm_hits({"url": url, "model": model, "key": key}, explanation, list(texts))


def annotation_patterns(sel, direction) -> pd.DataFrame:
    """The blind annotations' written patterns for this unit (any dataset), newest first: the patterns of the
    unit's own tasks, or of every annotated neuron task of the run when it has none."""
    tasks, answers = store.tasks(), store.annotations()
    if tasks.empty or answers.empty:
        return pd.DataFrame(columns=["task_id", "dataset", "annotator", "pattern", "direction_id"])
    a = answers[answers["pattern"].notna()].merge(tasks[["task_id", "run_id", "layer", "pooling", "dataset",
                                                          "direction_id"]], on="task_id")
    a = a[a["run_id"] == sel.run_id]
    mine = a[a["direction_id"] == f"neuron:{direction.unit}"] if direction.unit is not None else a.iloc[:0]
    return (mine if len(mine) else a).sort_values("created_at", ascending=False)[
        ["task_id", "dataset", "annotator", "pattern", "direction_id"]].reset_index(drop=True)


def hits(sel, examples: pd.DataFrame, datasets: list[str], kind: str, text: str, judge: bool) -> np.ndarray:
    """The explanation's yes/no on each row of ``examples``. Raises ValueError for an explanation that cannot be
    read (or an LLM judge that fails)."""
    texts = examples["text"].astype(str).tolist()
    if kind in ("keywords", "regex"):
        return concept_hits(texts, keywords=text.split(",") if kind == "keywords" else None,
                            regex=text if kind == "regex" else None)
    if kind == "labelled":
        pos, neg = parse_labelled(text)
        x_all, keys = data.layer_matrix(sel.run_id, sel.layer, sel.pooling, datasets)
        all_texts = data.dataset_texts(datasets)["text"].tolist()
        pos_rows, neg_rows, _ = dv.labelled_rows(all_texts, pos, neg)
        every = centroid_hits(x_all, pos_rows, neg_rows)
        row_of = {k: i for i, k in enumerate(zip(keys["dataset"], keys["sentence_id"].astype(int)))}
        return every[[row_of[(d, int(i))] for d, i in zip(examples["dataset"], examples["sentence_id"])]]
    cfg = llm_config()
    if judge and cfg is not None:
        return _llm_hits(cfg["url"], cfg["model"], cfg["key"], text.strip(), tuple(texts))
    return concept_hits(texts, keywords=tr.sentence_keywords(text))


def missing_examples(datasets: list[str], text: str) -> list[str]:
    pos, neg = parse_labelled(text)
    return dv.labelled_rows(data.dataset_texts(datasets)["text"].tolist(), pos, neg)[2]


# --- Scores ----------------------------------------------------------------------------------------------------


@dataclass
class Scores:
    heldout: pd.DataFrame  # the held-out examples with hit
    table: pd.DataFrame  # analysis.transfer.transfer_table
    quantiles: pd.DataFrame  # analysis.transfer.detection_scores per dataset and quantile 1..10
    statement: str


def score(sel, s: Sample, datasets: list[str], reference: str, kind: str, text: str, judge: bool) -> Scores:
    held = s.examples[s.examples["heldout"]].reset_index(drop=True)
    held = held.assign(hit=hits(sel, held, datasets, kind, text, judge))
    table = tr.transfer_table(held, reference)
    per_q = tr.detection_scores(held)
    per_q = per_q[per_q["quantile"] != "all"].assign(quantile=lambda f: f["quantile"].astype(int))
    return Scores(held, table, per_q.reset_index(drop=True), tr.statement(table, reference))


# --- Charts (built once per shape: ui.charts) -------------------------------------------------------------------


def f1_chart(reference: str) -> alt.LayerChart:
    base = alt.Chart(alt.NamedData("table")).encode(
        y=alt.Y("dataset:N", title=None, sort=None),
        color=alt.Color("verdict:N", scale=alt.Scale(domain=["reference", "holds", "better", "at chance", "breaks",
                                                             "no signal on reference"],
                                                     range=["#4c78a8", "#54a24b", "#72b7b2", "#f58518", "#e45756",
                                                            "#9d9d9d"])))
    bars = base.mark_rule(strokeWidth=2).encode(x=alt.X("f1_lo:Q", title=f"F1 on held-out examples (written on "
                                                                         f"{reference}), 95% bootstrap interval",
                                                        scale=alt.Scale(domain=[0, 1])), x2="f1_hi:Q")
    dots = base.mark_point(filled=True, size=80).encode(x="f1:Q", tooltip=["dataset:N", "verdict:N", "f1:Q",
                                                                            "drop:Q", "p_value:Q"])
    chance = base.mark_tick(color="gray", thickness=2).encode(x="chance_f1:Q")
    return (bars + dots + chance).properties(height=alt.Step(28))


def quantile_chart() -> alt.Chart:
    return alt.Chart(alt.NamedData("quantiles")).mark_line(point=True).encode(
        x=alt.X("quantile:O", title="activation quantile (1 weakest, 10 strongest)"),
        y=alt.Y("recall:Q", title="recall (share of the quantile's examples the explanation picks out)",
                scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("dataset:N"), tooltip=["dataset:N", "quantile:O", "precision:Q", "recall:Q", "f1:Q"])
