"""Anisotropy stage (Ethayarajh 2019): contextual word vectors for sampled words, and how contextual they are.

Per run, per dataset and pooled over the datasets, at every layer (the embedding output included):
self-similarity and MEV of each sampled word, intra-sentence similarity of each sentence the stage ran, the
anisotropy baselines and the adjusted metrics (definitions in ``analysis.anisotropy``).

**Sample** (decided on the text alone, so every runner sees the same words and contexts):
- words are ``analysis.anisotropy.word_spans`` matches, lower-cased; a context is a sentence, counted once
  (the first occurrence of the word in it), and a text repeated in a dataset counts once (its first row);
- every sentence gets a seeded random key, every word type a seeded hash key;
- a dataset's sampled words are the ``words`` eligible types (>= ``min_contexts`` contexts) with the
  lowest keys, and a word's contexts its ``contexts`` sentences with the lowest keys: a uniform random
  sample of each. Pooled: the same rule on all datasets as one corpus (a text in several datasets counts
  once). Because the keys are shared, a pooled word's contexts are mostly ones a dataset already needs;
- the anisotropy baseline draws ``baseline_words`` word tokens uniformly from the sentences the stage runs,
  at most one per sentence (per dataset, and separately for the pool).

Only the sentences that hold a sampled context or baseline word are run through ``runner.token_states``, in
length-sorted chunks; only the vectors the metrics need are kept (float32, [occurrences, layers, H]), and a
dataset's are dropped once its metrics are written. The vectors themselves are not stored: the tables hold
the metrics per word, per sentence and per layer, and each context's sentence and character span.
"""
from __future__ import annotations

import hashlib
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.anisotropy import (POOLED, intra_sentence_similarity, mev, random_baseline, random_mev,
                                 self_similarity, word_spans, word_vectors)
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints


@dataclass(frozen=True)
class AnisotropyConfig:
    """The ``[anisotropy]`` section: how many words, contexts and baseline vectors are sampled."""

    enabled: bool = True
    words: int = 400  # word types sampled per dataset (and for the pool); 0: every eligible type
    contexts: int = 20  # contexts (sentences) kept per word, seeded
    min_contexts: int = 5  # a word type needs this many distinct sentences to be sampled
    baseline_words: int = 1000  # random word vectors (one per sentence) for the anisotropy baseline
    mev_sets: int = 100  # random word sets per size for the MEV baseline

    def __post_init__(self):
        check_bools(self, NAME)
        check_ints(self, NAME, 0, ["words"])
        check_ints(self, NAME, 2, ["contexts", "min_contexts", "baseline_words"])
        check_ints(self, NAME, 1, ["mev_sets"])
        if self.min_contexts > self.contexts:
            raise PipelineError(f"config: anisotropy.min_contexts ({self.min_contexts}) must not exceed "
                                f"anisotropy.contexts ({self.contexts})")


NAME = "anisotropy"
SECTION = AnisotropyConfig
TABLES = ("anisotropy_layers", "anisotropy_words", "anisotropy_contexts", "anisotropy_sentences")
SOURCES = ("pipeline/stages/anisotropy.py", "analysis/anisotropy.py")
CHUNK = 256  # sentences per token_states call: bounds the memory of one call's states


# ------------------------------------------------------------------------------------------------------
# The sample (text only)
# ------------------------------------------------------------------------------------------------------

@dataclass
class Sample:
    """One sample: the words of a dataset (or of the pool) and their contexts.

    contexts: word -> [(dataset, sentence_id)] (lowest keys first); baseline: [(dataset, sentence_id, k)]
    (k = index of the word in the sentence's ``word_spans``).
    """

    name: str
    contexts: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    baseline: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class Plan:
    spans: dict[str, list[list[tuple[int, int, str]]]]  # dataset -> sentence -> its words
    samples: list[Sample]  # one per dataset (config order), then the pooled one
    run: dict[str, list[int]]  # dataset -> sentence ids to run (sorted)


def _word_key(seed: int, word: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\x00{word}".encode(), digest_size=8).digest(), "little")


def _sentence_keys(seed: int, dataset: str, n: int) -> np.ndarray:
    return np.random.default_rng([seed, zlib.crc32(dataset.encode())]).random(n)


def _choose(occurrences: dict[str, list], word_keys: dict[str, int], words: int, contexts: int,
            min_contexts: int) -> dict[str, list]:
    """occurrences: word -> contexts sorted by key. The `words` eligible types with the lowest word key."""
    eligible = [w for w, occ in occurrences.items() if len(occ) >= min_contexts]
    eligible.sort(key=lambda w: (word_keys[w], w))
    chosen = eligible if words == 0 else eligible[:words]
    return {w: occurrences[w][:contexts] for w in sorted(chosen)}


def _baseline_draw(spans, sentences: list[tuple[str, int]], n_words: int, rng) -> list[tuple[str, int, int]]:
    """``n_words`` word tokens drawn uniformly from ``sentences`` (without replacement), at most one per
    sentence: tokens are visited in a random order and a token whose sentence is taken is skipped."""
    sizes = np.array([len(spans[d][s]) for d, s in sentences], dtype=np.int64)
    if sizes.sum() == 0:
        return []
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    owner = np.repeat(np.arange(len(sentences)), sizes)
    taken, out = set(), []
    for t in rng.permutation(int(sizes.sum())):
        i = int(owner[t])
        if i in taken:
            continue
        taken.add(i)
        d, s = sentences[i]
        out.append((d, s, int(t - starts[i])))
        if len(out) == n_words:
            break
    return out


_last_plan: dict = {}


def cached_plan(texts: dict[str, list[str]], *args) -> Plan:
    """``plan_sample`` remembered for the last texts and settings: every run of a build shares one plan."""
    h = hashlib.sha256(repr(args).encode())
    for d, ts in texts.items():
        h.update(f"\x01{d}\x01".encode())
        h.update("\x00".join(ts).encode())
        h.update(np.array([len(t) for t in ts], dtype=np.int64).tobytes())  # no two text lists hash alike
    key = h.hexdigest()
    if key not in _last_plan:
        _last_plan.clear()
        _last_plan[key] = plan_sample(texts, *args)
    return _last_plan[key]


def plan_sample(texts: dict[str, list[str]], words: int, contexts: int, min_contexts: int, baseline_words: int,
                seed: int) -> Plan:
    """The whole sample of a build, from the texts alone (see the module docstring)."""
    spans = {d: [word_spans(t) for t in ts] for d, ts in texts.items()}
    word_keys: dict[str, int] = {}
    pooled_occ: dict[str, list] = {}
    pooled_seen: set[str] = set()
    per_dataset: dict[str, dict[str, list]] = {}
    for d, ts in texts.items():
        keys = _sentence_keys(seed, d, len(ts))
        seen: set[str] = set()
        firsts = []
        for s, t in enumerate(ts):
            if t not in seen:  # a repeated text is the same context
                seen.add(t)
                firsts.append(s)
        occ: dict[str, list] = {}
        for s in sorted(firsts, key=lambda s: keys[s]):
            distinct = dict.fromkeys(w for _, _, w in spans[d][s])
            in_pool = ts[s] not in pooled_seen
            for w in distinct:
                occ.setdefault(w, []).append((d, s))
                if in_pool:
                    pooled_occ.setdefault(w, []).append((float(keys[s]), d, s))
        pooled_seen.update(seen)
        for w in occ:
            if w not in word_keys:
                word_keys[w] = _word_key(seed, w)
        per_dataset[d] = occ
    samples = [Sample(d, _choose(occ, word_keys, words, contexts, min_contexts)) for d, occ in per_dataset.items()]
    for occ in pooled_occ.values():
        occ.sort()
    pooled = Sample(POOLED, _choose({w: [(d, s) for _, d, s in o] for w, o in pooled_occ.items()}, word_keys,
                                    words, contexts, min_contexts))
    run: dict[str, set[int]] = {d: set() for d in texts}
    for sample in samples + [pooled]:
        for occ in sample.contexts.values():
            for d, s in occ:
                run[d].add(s)
    # The baseline draws from the sentences the stage runs anyway: no extra model work.
    for i, sample in enumerate(samples):
        rng = np.random.default_rng([seed, zlib.crc32(sample.name.encode()), 1])
        sample.baseline = _baseline_draw(spans, [(sample.name, s) for s in sorted(run[sample.name])],
                                         baseline_words, rng)
    every = [(d, s) for d in texts for s in sorted(run[d])]
    pooled.baseline = _baseline_draw(spans, every, baseline_words, np.random.default_rng([seed, 0, 1]))
    return Plan(spans, samples + [pooled], {d: sorted(v) for d, v in run.items()})


# ------------------------------------------------------------------------------------------------------
# Vectors and metrics
# ------------------------------------------------------------------------------------------------------

class _Store:
    """The kept word vectors of one sample: slot -> float32 [L, H], filled as sentences are run."""

    def __init__(self, n: int, n_layers: int, hidden: int):
        self.vecs = np.zeros((n, n_layers, hidden), dtype=np.float32)
        self.ok = np.zeros(n, dtype=bool)  # the word had units inside its span (not cut off by truncation)
        self.n_units = np.zeros(n, dtype=np.int32)


def sample_metrics(sample: Sample, spans, store: _Store, slots: dict, n_layers: int, min_contexts: int,
                   mev_sets: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray, int]:
    """One sample's metrics from its kept vectors: (words [layer, word, n_contexts, self_sim, mev,
    mev_random], contexts [sample, dataset, word, sentence_id, char_start, char_end, n_units, used],
    baseline [L], number of baseline words). A word keeps its contexts that have a vector; with fewer than
    ``min_contexts`` left it is dropped (its contexts are kept, used = false)."""
    base_slots = [slots[("b", k)] for k in range(len(sample.baseline))]
    base_slots = [i for i in base_slots if store.ok[i]]
    base = store.vecs[base_slots].transpose(1, 0, 2)  # [L, N, H]
    baseline = random_baseline(base) if len(base_slots) >= 2 else np.full(n_layers, np.nan)
    ctx_rows, by_size, used = [], {}, {}
    for w, occ in sample.contexts.items():
        idx = [slots[("w", w, d, s)] for d, s in occ]
        good = [i for i in idx if store.ok[i]]
        keep = len(good) >= max(2, min_contexts)
        for (d, s), i in zip(occ, idx):
            a, b, _ = next(x for x in spans[d][s] if x[2] == w)
            ctx_rows.append((sample.name, d, w, s, a, b, int(store.n_units[i]), bool(keep and store.ok[i])))
        if keep:
            used[w] = good
            by_size.setdefault(len(good), []).append(w)
    parts = []
    for n, ws in sorted(by_size.items()):
        x = store.vecs[np.array([used[w] for w in ws])].transpose(2, 0, 1, 3)  # [L, W, n, H]
        ss, mv = self_similarity(x), mev(x)  # [L, W]
        mr = random_mev(base, n, mev_sets, seed) if len(base_slots) >= n else np.full(n_layers, np.nan)
        parts.append(pd.DataFrame({"layer": np.repeat(np.arange(n_layers), len(ws)),
                                   "word": np.tile(np.array(ws, dtype=object), n_layers), "n_contexts": n,
                                   "self_sim": ss.ravel(), "mev": mv.ravel(),
                                   "mev_random": np.repeat(mr, len(ws))}))
    cols = ["layer", "word", "n_contexts", "self_sim", "mev", "mev_random"]
    words = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    contexts = pd.DataFrame(ctx_rows, columns=["sample", "dataset", "word", "sentence_id", "char_start",
                                               "char_end", "n_units", "used"])
    return words, contexts, baseline, len(base_slots)


def layer_summary(words: pd.DataFrame, sentences: pd.DataFrame, baseline: np.ndarray, n_layers: int) -> pd.DataFrame:
    """Per layer: n_words, n_sentences, self_sim (mean over words), intra_sim (mean over sentences), baseline,
    mev (mean over words), mev_random (mean over words of the size-matched random MEV) and the adjusted
    self_sim_adj, intra_sim_adj, mev_adj."""
    layer = pd.DataFrame({"layer": np.arange(n_layers), "baseline": np.asarray(baseline, dtype=np.float64)})
    w = words.groupby("layer").agg(n_words=("word", "size"), self_sim=("self_sim", "mean"), mev=("mev", "mean"),
                                   mev_random=("mev_random", "mean")).reset_index()
    i = sentences.groupby("layer").agg(n_sentences=("sentence_id", "size"),
                                       intra_sim=("intra_sim", "mean")).reset_index()
    out = layer.merge(w, on="layer", how="left").merge(i, on="layer", how="left")
    out[["n_words", "n_sentences"]] = out[["n_words", "n_sentences"]].fillna(0).astype(int)
    out["self_sim_adj"] = out["self_sim"] - out["baseline"]
    out["intra_sim_adj"] = out["intra_sim"] - out["baseline"]
    out["mev_adj"] = out["mev"] - out["mev_random"]
    return out


def settings(cfg, spec, datasets) -> dict | None:
    c = cfg.anisotropy
    if not c.enabled or not datasets:
        return None
    return {"words": c.words, "contexts": c.contexts, "min_contexts": c.min_contexts,
            "baseline_words": c.baseline_words, "mev_sets": c.mev_sets}


def run(ctx) -> int:
    """The per-run stage (see pipeline.stages): sample, run the model on the needed sentences, write."""
    s = ctx.settings
    texts = {name: ld.frame["text"].astype(str).tolist() for name, ld in ctx.datasets.items()}
    n_layers = int(ctx.run_info()["n_layers"])
    return run_stage(ctx.con, ctx.run_id, ctx.runner(), texts, n_layers, s["words"], s["contexts"],
                     s["min_contexts"], s["baseline_words"], s["mev_sets"], ctx.cfg.seed, ctx.progress, ctx.log)


def run_stage(con, run_id: str, runner, texts: dict[str, list[str]], n_layers: int, words: int, contexts: int,
              min_contexts: int, baseline_words: int, mev_sets: int, seed: int, progress: bool = False,
              log=print) -> int:
    """Sample, run ``runner.token_states`` on the needed sentences, insert every table's rows for ``run_id``.
    Returns the number of anisotropy_words rows."""
    from tqdm.auto import tqdm

    t0 = time.time()
    plan = cached_plan(texts, words, contexts, min_contexts, baseline_words, seed)
    n_run = sum(len(v) for v in plan.run.values())
    log(f"anisotropy {run_id}: {sum(len(s.contexts) for s in plan.samples[:-1])} words over "
        f"{len(plan.samples) - 1} datasets, {len(plan.samples[-1].contexts)} pooled; {n_run} sentences to run "
        f"(planned in {time.time() - t0:.1f}s)")
    # Which kept vector each (sentence, word index) feeds: (sample index, slot) pairs.
    needs: dict[tuple[str, int], list[tuple[int, int, int]]] = {}  # (d, s) -> [(k, sample, slot)]
    slot_maps: list[dict] = []
    for si, sample in enumerate(plan.samples):
        slots: dict = {}
        for w, occ in sample.contexts.items():
            for d, s in occ:
                k = next(i for i, (_, _, ww) in enumerate(plan.spans[d][s]) if ww == w)
                slots[("w", w, d, s)] = len(slots)
                needs.setdefault((d, s), []).append((k, si, slots[("w", w, d, s)]))
        for b, (d, s, k) in enumerate(sample.baseline):
            slots[("b", b)] = len(slots)
            needs.setdefault((d, s), []).append((k, si, slots[("b", b)]))
        slot_maps.append(slots)
    pooled_i = len(plan.samples) - 1
    stores: dict[int, _Store] = {}

    def store(si: int, h: int) -> _Store:
        if si not in stores:
            stores[si] = _Store(len(slot_maps[si]), n_layers, h)
        return stores[si]

    bar = tqdm(total=n_run, desc=f"{run_id} anisotropy", unit="sent", disable=not progress)
    n_rows = 0
    pooled_sentences = []
    for si, d in enumerate(texts):
        ids = sorted(plan.run[d], key=lambda s: len(texts[d][s]))  # length-sorted: little padding
        sent_rows = []
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            states = runner.token_states([texts[d][s] for s in chunk])
            for s, ts in zip(chunk, states):
                spans = np.array([(a, b) for a, b, _ in plan.spans[d][s]], dtype=np.int64).reshape(-1, 2)
                vecs, n_units = word_vectors(ts.offsets, ts.states, spans)  # [L, W, H], [W]
                ok = n_units > 0
                if ok.sum() >= 2:
                    intra = intra_sentence_similarity(vecs[:, ok])  # [L]
                    sent_rows.extend((layer, s, int(ok.sum()), float(intra[layer])) for layer in range(n_layers))
                for k, sj, slot in needs.get((d, s), ()):
                    st = store(sj, vecs.shape[-1])
                    st.vecs[slot] = vecs[:, k]
                    st.ok[slot] = ok[k]
                    st.n_units[slot] = n_units[k]
            bar.update(len(chunk))
        sentences = pd.DataFrame(sent_rows, columns=["layer", "sentence_id", "n_words", "intra_sim"])
        sentences.insert(0, "dataset", d)
        pooled_sentences.append(sentences)
        n_rows += _write_sample(con, run_id, plan.samples[si], plan.spans, stores.pop(si, None), slot_maps[si],
                                sentences, n_layers, min_contexts, mev_sets, seed)
    bar.close()
    n_rows += _write_sample(con, run_id, plan.samples[pooled_i], plan.spans, stores.pop(pooled_i, None),
                            slot_maps[pooled_i], pd.concat(pooled_sentences, ignore_index=True), n_layers,
                            min_contexts, mev_sets, seed)
    for part in pooled_sentences:
        new_sentences = part.assign(run_id=run_id)[["run_id", "layer", "dataset", "sentence_id",  # noqa: F841
                                                    "n_words", "intra_sim"]]
        con.execute("insert into anisotropy_sentences select * from new_sentences")
    return n_rows


def _write_sample(con, run_id, sample: Sample, spans, st: _Store | None, slots, sentences: pd.DataFrame,
                  n_layers: int, min_contexts: int, mev_sets: int, seed: int) -> int:
    st = st or _Store(len(slots), n_layers, 1)  # nothing was needed: every word is dropped
    words, contexts, baseline, n_baseline = sample_metrics(sample, spans, st, slots, n_layers, min_contexts,
                                                           mev_sets, seed)
    words["self_sim_adj"] = words["self_sim"] - baseline[words["layer"].to_numpy(dtype=np.int64)]
    words["mev_adj"] = words["mev"] - words["mev_random"]
    # (frames named new_*: a replacement scan must not resolve to a warehouse table such as `layers`)
    new_words = words.assign(run_id=run_id, dataset=sample.name)[  # noqa: F841
        ["run_id", "layer", "dataset", "word", "n_contexts", "self_sim", "self_sim_adj", "mev", "mev_random",
         "mev_adj"]]
    con.execute("insert into anisotropy_words select * from new_words")
    new_contexts = contexts.assign(run_id=run_id)[["run_id", *contexts.columns]]  # noqa: F841
    con.execute("insert into anisotropy_contexts select * from new_contexts")
    new_layers = layer_summary(words, sentences, baseline, n_layers).assign(  # noqa: F841
        run_id=run_id, dataset=sample.name, n_baseline=n_baseline)[
        ["run_id", "layer", "dataset", "n_words", "n_sentences", "n_baseline", "self_sim", "intra_sim", "baseline",
         "mev", "mev_random", "self_sim_adj", "intra_sim_adj", "mev_adj"]]
    con.execute("insert into anisotropy_layers select * from new_layers")
    return len(words)
