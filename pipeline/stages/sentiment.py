"""Sentiment-neuron stage: is Radford et al.'s "sentiment neuron" necessary, sufficient, or an artefact?

For every sentiment-labelled dataset and every feature set of a run (stored sentence vectors of some layers,
pooled final / mean / cls or concatenated), the protocol of the ablation study
(``pipeline.methods.sentiment_protocol``) with L1 and/or L2 logistic regression, solved in batches
(``pipeline.methods.sentiment_solver``); then the trailing-word attack: the test texts re-encoded with
" Wonderful" / " Terrible" appended and re-scored by the trained classifiers.

Which datasets: ``sentiment.datasets`` when set; otherwise every dataset with sentiment labels that the
config can name before loading: the demo's scored corpora (movies, amazon, nyt, tweets), the research
presets sst2, mr, cr and advglue-sst2, and any file or Hugging Face dataset declared label_kind=binary.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.numerics import limit_threads
from pipeline.errors import PipelineError
from pipeline.methods import sentiment_protocol as proto
from pipeline.methods.sentiment_solver import PENALTIES, predict_proba
from pipeline.sections import check_bools, check_ints, check_seq, is_int
from warehouse import queries

TOKEN_POOLS = ("min", "max", "abs")  # pooled here from every unit's state (runner.token_states), not stored
FEATURES = ("final", "last", "cls", "mean", "concat") + TOKEN_POOLS


@dataclass(frozen=True)
class SentimentConfig:
    """The ``[sentiment]`` section: the sentiment-neuron study on every sentiment-labelled dataset.

    datasets:           dataset names to study; empty: every binary-labelled dataset and the demo's
                        sentiment-scored corpora (movies, amazon, nyt, tweets);
    score_margin:       score labels: positive when score >= score_center + score_margin, negative when
                        score <= score_center - score_margin, otherwise dropped as near-neutral;
    min_rows:           skip a dataset with fewer labelled rows than this (or fewer than 5 of a class);
    penalties:          l1 (the original study) and/or l2;
    c_grid:             the values of sklearn's C searched on dev (Radford et al.'s code used 2^-8..2^0 for L1;
                        every other power of 2 here, one lower for L2 on standardised features);
    suite_features:     feature sets that get every experiment (final/mean/concat for LSTMs, last/mean/concat
                        for decoders, cls/mean/concat for transformers; a run uses those it has); the others
                        get the all-units classifier;
    token_pools:        more feature sets the study compares, pooled here over the text's own units from their
                        states (the model runs again over the studied datasets): min, max and abs (the state of
                        largest magnitude, its sign kept); [] for none;
    lstm_streams:       LSTM layers (layers.name) concatenated into the features ([] = the default: every cell
                        state, lstm1.cell and lstm2.cell for textgenrnn);
    transformer_layers: transformer (and decoder) layers concatenated (0 = embedding output, -1 = the last
                        block; for a decoder's MLP run, 0 is block 0's MLP);
    n_subsets, subset_size: random unit subsets (the size is capped at half the units);
    adversarial:        re-encode the test texts with " Wonderful" / " Terrible" appended (Table 3);
    long_chars, long_repeats: texts longer than long_chars characters also get the word long_repeats times.
    """

    enabled: bool = True
    datasets: tuple = ()
    score_margin: float = 0.5
    score_center: float = 0.0
    min_rows: int = 50
    penalties: tuple = PENALTIES
    c_grid: tuple = (2.0 ** -10, 2.0 ** -8, 2.0 ** -6, 2.0 ** -4, 2.0 ** -2, 1.0)
    suite_features: tuple = ("final", "last", "cls")
    token_pools: tuple = TOKEN_POOLS
    lstm_streams: tuple = ()
    transformer_layers: tuple = (-1,)
    n_subsets: int = 1000
    subset_size: int = 100
    adversarial: bool = True
    long_chars: int = 300
    long_repeats: int = 10

    def __post_init__(self):
        check_bools(self, NAME, ("enabled", "adversarial"))
        check_ints(self, NAME, 2, ["min_rows"])
        check_ints(self, NAME, 1, ["n_subsets", "subset_size", "long_chars", "long_repeats"])
        for name in ("score_margin", "score_center"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or abs(v) == float("inf") \
                    or (name == "score_margin" and v < 0):
                raise PipelineError(f"config: sentiment.{name} must be a finite number"
                                    f"{' >= 0' if name == 'score_margin' else ''}, got {v!r}")
            object.__setattr__(self, name, float(v))
        check_seq(self, NAME, "datasets", lambda v: isinstance(v, str) and bool(v),
                  "a list of dataset names ([] = automatic)", True)
        check_seq(self, NAME, "penalties", lambda v: v in PENALTIES, "a non-empty list of distinct values from l1, l2")
        check_seq(self, NAME, "c_grid", lambda v: not isinstance(v, bool) and isinstance(v, (int, float))
                  and 0 < v < float("inf"), "a non-empty list of distinct positive numbers")
        object.__setattr__(self, "c_grid", tuple(float(v) for v in self.c_grid))
        check_seq(self, NAME, "suite_features", lambda v: v in FEATURES,
                  f"a list of distinct feature sets from {', '.join(FEATURES)}", True)
        check_seq(self, NAME, "token_pools", lambda v: v in TOKEN_POOLS,
                  f"a list of distinct poolings from {', '.join(TOKEN_POOLS)}", True)
        check_seq(self, NAME, "lstm_streams", lambda v: isinstance(v, str) and bool(v), "a list of LSTM layer "
                  "names (lstm1.hidden, lstm1.cell, ...; [] = every cell state)", True)
        check_seq(self, NAME, "transformer_layers", is_int, "a non-empty list of distinct layer indices (-1 = last)")


NAME = "sentiment"
SECTION = SentimentConfig
TABLES = ("sentiment_datasets", "sentiment_features", "sentiment_classifiers", "sentiment_units",
          "sentiment_subsets", "sentiment_labels", "sentiment_predictions")
SOURCES = ("pipeline/stages/sentiment.py", "pipeline/methods/sentiment_protocol.py",
           "pipeline/methods/sentiment_solver.py")

DEMO_SENTIMENT = ("movies", "amazon", "nyt", "tweets")
RESEARCH_SENTIMENT = ("sst2", "mr", "cr", "advglue-sst2")
ATTACK_WORDS = ("Wonderful", "Terrible")
MIN_PER_CLASS = 5


def label_kind_of(spec) -> str:
    """The label kind a dataset will load with, known from its spec alone (demo and research sources fix
    their own)."""
    if spec.source == "demo":
        from pipeline.corpora.demo import DEMO_CORPORA

        return DEMO_CORPORA.get(spec.path, ("none", ""))[0]
    if spec.source == "research":
        from pipeline.corpora.research import PRESETS

        preset = PRESETS.get(spec.path)
        return preset.label_kind if preset else "none"
    return spec.label_kind


def chosen_datasets(cfg, names) -> list[str]:
    """The datasets the stage studies, in config order (see the module docstring)."""
    specs = {d.name: d for d in cfg.datasets if d.name in set(names)}
    wanted = cfg.sentiment.datasets
    if wanted:
        for name in wanted:
            if name not in specs:
                raise PipelineError(f"config: sentiment.datasets names {name!r}, which is not a dataset of this "
                                    f"build (datasets: {', '.join(specs)})")
            kind = label_kind_of(specs[name])
            if kind not in ("binary", "score"):
                raise PipelineError(f"config: sentiment.datasets: dataset {name!r} has label_kind {kind}; "
                                    f"the sentiment study needs binary or score labels")
        return [n for n in specs if n in wanted]
    out = []
    for name, spec in specs.items():
        if ((spec.source == "demo" and spec.path in DEMO_SENTIMENT)
                or (spec.source == "research" and spec.path in RESEARCH_SENTIMENT)
                or (spec.source in ("file", "hf") and spec.label_kind == "binary")):
            out.append(name)
    return out


def feature_plan(kind: str, s) -> dict:
    """What the run's features are made of, before the run's layers are known: {streams | layers, poolings,
    suite}."""
    # The pooled state the study attacks, then the mean: an LSTM's final state, a decoder's last token (it has
    # no [CLS]; it is the decoder's final state), an encoder's [CLS].
    poolings = [{"lstm": "final", "decoder": "last"}.get(kind, "cls"), "mean"]
    names = poolings + ["concat"] + list(s.token_pools)
    plan = {"poolings": poolings, "features": names, "suite": [f for f in names if f in s.suite_features]}
    if kind == "lstm":
        plan["lstm_streams"] = list(s.lstm_streams)
    else:
        plan["transformer_layers"] = list(s.transformer_layers)
    return plan


def settings(cfg, spec, datasets) -> dict | None:
    s = cfg.sentiment
    if not s.enabled:
        return None
    chosen = chosen_datasets(cfg, datasets)
    if not chosen:
        return None
    kinds = {d.name: label_kind_of(d) for d in cfg.datasets if d.name in chosen}
    return {"datasets": chosen, "label_kinds": kinds,
            "score_margin": s.score_margin, "score_center": s.score_center, "min_rows": s.min_rows,
            "penalties": list(s.penalties), "c_grid": list(s.c_grid), "n_subsets": s.n_subsets,
            "subset_size": s.subset_size, "adversarial": s.adversarial, "long_chars": s.long_chars,
            "long_repeats": s.long_repeats, **feature_plan(spec.kind, s)}


def skip_reason(cfg, spec, datasets) -> str | None:
    """Why ``settings`` is None when the stage is enabled (the build's log line)."""
    return "no binary-labelled dataset (label_kind = \"binary\", or sentiment.datasets) to study"


def resolve_layers(layers: pd.DataFrame, kind: str, st: dict, run_id: str) -> list[int]:
    """Layer ids of the configured streams (LSTM, by name) or indices (transformer; negative from the end)."""
    ids = layers["layer"].tolist()
    if kind == "lstm":
        by_name = dict(zip(layers["name"], layers["layer"]))
        wanted = st["lstm_streams"] or [n for n in by_name if n.endswith(".cell")]
        missing = [n for n in wanted if n not in by_name]
        if missing:
            raise PipelineError(f"config: sentiment.lstm_streams: run {run_id!r} has no layer "
                                f"{', '.join(map(repr, missing))} (layers: {', '.join(by_name)})")
        return [int(by_name[n]) for n in wanted]
    out = []
    for i in st["transformer_layers"]:
        if not -len(ids) <= i < len(ids):
            raise PipelineError(f"config: sentiment.transformer_layers: {i} is out of range for run {run_id!r} "
                                f"({len(ids)} layers, 0..{len(ids) - 1} or -1..-{len(ids)})")
        out.append(int(ids[i]))
    if len(set(out)) != len(out):
        raise PipelineError(f"config: sentiment.transformer_layers {st['transformer_layers']} name the same "
                            f"layer twice for run {run_id!r}")
    return out


def feature_blocks(feature: str, poolings: list[str], layer_ids: list[int]) -> list[tuple[int, str]]:
    """The (layer, pooling) blocks of a feature set, in concatenation order (pooling-major)."""
    pools = poolings if feature == "concat" else [feature]  # a token pool is one block per layer, as a pooling
    return [(layer, p) for p in pools for layer in layer_ids]


def attach_suffix(runner, texts: list[str], suffix: str) -> tuple[list[str], np.ndarray]:
    """``text + suffix`` for each text, shortening the text (at its end) where the result would exceed the
    runner's max_length, so that the model always reads the appended words. Returns (texts, bool [N] which
    texts were shortened). LSTM runners count characters; transformer runners count WordPieces (through the
    tokenizer's offsets).
    """
    limit = int(getattr(runner, "max_length", 0) or 0)
    cut = np.zeros(len(texts), dtype=bool)
    if not limit:
        return [t + suffix for t in texts], cut
    tok = getattr(runner, "tokenizer", None)
    out = []
    if tok is None:  # character units
        room = max(0, limit - len(suffix))
        for i, t in enumerate(texts):
            if len(t) > room:
                t, cut[i] = t[:room], True
            out.append(t + suffix)
        return out, cut
    n_special = tok.num_special_tokens_to_add(pair=False)
    room = max(0, limit - n_special - len(tok(suffix, add_special_tokens=False)["input_ids"]))
    enc = tok(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    for i, (t, ids, offsets) in enumerate(zip(texts, enc["input_ids"], enc["offset_mapping"])):
        if len(ids) > room:
            t, cut[i] = (t[: offsets[room - 1][1]] if room else ""), True
        out.append(t + suffix)
    return out, cut


def run(ctx) -> int:
    """The per-run stage (see pipeline.stages): one block of rows per studied dataset."""
    st = ctx.settings
    info = ctx.run_info()
    layers = queries.layers(ctx.con, ctx.run_id)
    kind = str(info["model_kind"])
    layer_ids = resolve_layers(layers, kind, st, ctx.run_id)
    names = dict(zip(layers["layer"], layers["name"]))
    poolings = [p for p in st["poolings"] if p in list(info["poolings"])]
    hidden = int(info["hidden_size"])
    features = {f: feature_blocks(f, poolings, layer_ids) for f in st["features"]}
    rows = pd.DataFrame([{"run_id": ctx.run_id, "feature": f, "layers": [b[0] for b in blocks[: len(layer_ids)]],
                          "layer_names": [names[b[0]] for b in blocks[: len(layer_ids)]],
                          "poolings": list(dict.fromkeys(b[1] for b in blocks)), "n_units": len(blocks) * hidden,
                          "suite": f in st["suite"]} for f, blocks in features.items()])
    _insert(ctx.con, "sentiment_features", rows)
    ctx.log(f"sentiment {ctx.run_id}: {', '.join(st['datasets'])}; features "
            f"{', '.join(f'{f} ({len(b) * hidden})' for f, b in features.items())}; suite on "
            f"{', '.join(st['suite']) or 'none'}; {'/'.join(st['penalties'])}")
    done = 0
    for dataset in st["datasets"]:
        t = time.time()
        done += _dataset(ctx, st, dataset, features, hidden)
        ctx.log(f"sentiment {ctx.run_id}/{dataset}: {time.time() - t:.1f}s")
    return done


def _insert(con, table: str, df: pd.DataFrame) -> None:
    if len(df):
        con.execute(f"insert into {table} by name select * from df")


def _dataset_row(run_id, dataset, kind, st, y, status="done", reason=None, splits=None, n_long=0, n_cut=0):
    ok = ~np.isnan(y)
    rule = ("the larger of the two label values positive, the smaller negative, missing dropped"
            if kind == "binary" else
            f"score >= {st['score_center'] + st['score_margin']:g} positive, score <= "
            f"{st['score_center'] - st['score_margin']:g} negative, otherwise dropped")
    counts = {s: int((splits == s).sum()) if splits is not None else 0 for s in proto.SPLITS}
    return pd.DataFrame([{"run_id": run_id, "dataset": dataset, "status": status, "reason": reason,
                          "label_kind": kind, "rule": rule, "n_labelled": int(ok.sum()),
                          "n_positive": int((y == 1).sum()), "n_negative": int((y == 0).sum()),
                          "n_dropped": int((~ok).sum()), "n_train": counts["train"], "n_dev": counts["dev"],
                          "n_test": counts["test"], "n_long_test": int(n_long), "n_cut_for_suffix": int(n_cut)}])


def _skip_reason(y: np.ndarray, splits: np.ndarray | None, min_rows: int) -> str | None:
    n = int((~np.isnan(y)).sum())
    if n < min_rows:
        return f"{n} labelled rows after binarising, fewer than sentiment.min_rows = {min_rows}"
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if min(n_pos, n_neg) < MIN_PER_CLASS:
        return f"{n_pos} positive and {n_neg} negative rows: need at least {MIN_PER_CLASS} of each"
    if splits is not None:
        yy = y[~np.isnan(y)]
        for s in proto.SPLITS:
            if len(set(yy[splits == s].tolist())) < 2:
                return f"the {s} split has only one class"
    return None


def _dataset(ctx, st, dataset: str, features: dict, hidden: int) -> int:
    from tqdm.auto import tqdm

    con, run_id = ctx.con, ctx.run_id
    loaded = ctx.datasets[dataset]
    kind = loaded.label_kind
    frame = loaded.frame
    y_all = proto.binarise(frame["label"].to_numpy(dtype=np.float64), kind, st["score_margin"], st["score_center"])
    reason = _skip_reason(y_all, None, st["min_rows"])
    ids = np.flatnonzero(~np.isnan(y_all))
    splits = proto.split(len(ids), proto.split_seed(ctx.cfg.seed, dataset)) if reason is None else None
    reason = reason or _skip_reason(y_all, splits, st["min_rows"])
    if reason:
        ctx.log(f"sentiment {run_id}/{dataset}: skipped ({reason})")
        _insert(con, "sentiment_datasets", _dataset_row(run_id, dataset, kind, st, y_all, "skipped", reason))
        return 0
    y = y_all[ids].astype(np.int64)
    texts = frame["text"].to_numpy(dtype=object)[ids]
    is_long = np.array([len(t) > st["long_chars"] for t in texts])
    _insert(con, "sentiment_labels", pd.DataFrame({"run_id": run_id, "dataset": dataset, "sentence_id": ids,
                                                   "y": y, "split": splits, "is_long": is_long}))
    blocks = sorted({b for f in features.values() for b in f})
    vectors = token_pooled(ctx, texts, [b for b in blocks if b[1] in TOKEN_POOLS])
    for layer, pooling in [b for b in blocks if b[1] not in TOKEN_POOLS]:
        x, keys = queries.layer_matrix(con, run_id, layer, pooling, [dataset])
        if len(x) != len(frame) or not np.array_equal(keys["sentence_id"].to_numpy(), np.arange(len(frame))):
            raise PipelineError(f"sentiment {run_id}/{dataset}: stored activations of layer {layer} {pooling} "
                                f"do not cover the dataset's {len(frame)} sentences")
        vectors[(layer, pooling)] = x[ids]
    test = splits == "test"
    steps = [(f, p) for f in features for p in st["penalties"]]
    bar = tqdm(total=sum(6 if f in st["suite"] else 1 for f, _ in steps), desc=f"{run_id}/{dataset} sentiment",
               unit="step", disable=not ctx.progress)
    trained = {}  # (feature, penalty) -> (Data, w, b)
    n_rows = 0
    for feature, blocks_f in features.items():
        x = np.hstack([vectors[b] for b in blocks_f])
        data = proto.Data.from_arrays(x, y, splits)
        unit_meta = pd.DataFrame({"unit": np.arange(x.shape[1]),
                                  "layer": [b[0] for b in blocks_f for _ in range(hidden)],
                                  "pooling": [b[1] for b in blocks_f for _ in range(hidden)],
                                  "neuron": np.tile(np.arange(hidden), len(blocks_f))})
        for penalty in st["penalties"]:
            key = {"run_id": run_id, "dataset": dataset, "feature": feature, "penalty": penalty}
            if feature in st["suite"]:
                size = proto.subset_size(st["subset_size"], data.n_units)
                suite = proto.run_suite(data, st["c_grid"], penalty, st["n_subsets"], size,
                                        proto.split_seed(ctx.cfg.seed, f"{dataset}/{feature}/{penalty}"),
                                        progress=lambda _s: bar.update(1))
                full = suite.all
                sn = suite.sn
                units = proto.unit_frame(suite).assign(ablation_c=suite.ablation_c, subset_c=suite.subset_c)
                models = [("all", full, 0, data.n_units), ("sn_deleted", suite.sn_deleted, 0, data.n_units - 1),
                          ("sn_only", suite.single, sn, 1)]
                if suite.hindrance_removed is not None:
                    models.append(("hindrance_removed", suite.hindrance_removed, 0,
                                   data.n_units - len(suite.hindrance)))
                subsets = pd.DataFrame({
                    **key, "subset": np.arange(len(suite.subsets)),
                    "units": [np.flatnonzero(m).tolist() for m in suite.subsets],
                    "has_sn": suite.subsets[:, sn], "dev_accuracy": suite.subset_dev,
                    "test_accuracy": suite.subset_test})
                _insert(con, "sentiment_subsets", subsets)
                n_rows += len(subsets)
            else:
                full = proto.fit_all(data, st["c_grid"], penalty)
                bar.update(1)
                order = proto.weight_order(full.w[0])
                sn = int(order[0])
                rank = np.empty(len(order), dtype=np.int64)
                rank[order] = np.arange(len(order))
                units = pd.DataFrame({"unit": np.arange(data.n_units), "weight": full.w[0].astype(np.float64),
                                      "weight_rank": rank})
                for col in ("single_c", "single_dev_accuracy", "single_accuracy", "ablation_accuracy",
                            "cumulative_accuracy", "ablation_c", "subset_c"):
                    units[col] = np.nan
                models = [("all", full, 0, data.n_units)]
            clf = pd.DataFrame([{**key, "model": name, "n_units": n_units, "c": float(t.c[i]),
                                 "n_nonzero": int(np.count_nonzero(t.w[i])) if name != "sn_only"
                                 else int(t.w[i] != 0),
                                 "dev_accuracy": float(t.dev[i]), "test_accuracy": float(t.test[i]), "sn_unit": sn}
                                for name, t, i, n_units in models])
            _insert(con, "sentiment_classifiers", clf)
            units = units.merge(unit_meta, on="unit").assign(**key)
            _insert(con, "sentiment_units", units)
            p = predict_proba(data.x["test"], full.w[:1], full.b[:1])[:, 0]
            _insert(con, "sentiment_predictions", pd.DataFrame({**key, "attack": "none", "sentence_id": ids[test],
                                                                "p_positive": p.astype(np.float32)}))
            trained[(feature, penalty)] = (data, full.w[0], full.b[0])
            n_rows += len(clf) + len(units) + len(p)
    bar.close()
    n_cut = 0
    if st["adversarial"]:
        n_rows_adv, n_cut = _adversarial(ctx, st, dataset, features, texts[test], is_long[test], ids[test], trained)
        n_rows += n_rows_adv
    _insert(con, "sentiment_datasets", _dataset_row(run_id, dataset, kind, st, y_all, splits=splits,
                                                    n_long=int(is_long[test].sum()), n_cut=n_cut))
    return n_rows


def _adversarial(ctx, st, dataset, features, texts, is_long, sentence_ids, trained) -> tuple[int, int]:
    """Re-encode the test texts with each attack word appended (once; long texts also long_repeats times)
    and score them with every trained all-units classifier. Returns (rows written, test texts shortened so
    that a suffix fits)."""
    runner = ctx.runner()
    # Stored layer ids are positions in the runner's layer_names (extract writes them in that order).
    pool_of = {p: i for i, p in enumerate(runner.poolings)}
    attacks = []
    for word in ATTACK_WORDS:
        attacks.append((f"{word.lower()}_1", np.arange(len(texts)), f" {word}"))
        if is_long.any() and st["long_repeats"] > 1:
            attacks.append((f"{word.lower()}_{st['long_repeats']}", np.flatnonzero(is_long),
                            f" {word}" * st["long_repeats"]))
    n_rows = 0
    cut_any = np.zeros(len(texts), dtype=bool)
    for attack, rows, suffix in attacks:
        adv, cut = attach_suffix(runner, [texts[i] for i in rows], suffix)
        cut_any[rows[cut]] = True
        ctx.log(f"sentiment {ctx.run_id}/{dataset}: encoding {len(adv)} test texts + {suffix.strip()[:40]!r}")
        # One thread: re-encoding a few hundred texts is many small operations, which a thread pool slows down.
        with limit_threads(1):
            enc = runner.encode(adv, progress=ctx.progress).vectors  # [layers, poolings, N, H]
        extra = token_pooled(ctx, adv, sorted({b for f in features.values() for b in f if b[1] in TOKEN_POOLS}))
        for (feature, penalty), (data, w, b) in trained.items():
            x = np.hstack([extra[(layer, pooling)] if pooling in TOKEN_POOLS else enc[layer, pool_of[pooling]]
                           for layer, pooling in features[feature]])
            p = predict_proba(data.transform(x), w[None], np.array([b]))[:, 0]
            df = pd.DataFrame({"run_id": ctx.run_id, "dataset": dataset, "feature": feature, "penalty": penalty,
                               "attack": attack, "sentence_id": sentence_ids[rows], "p_positive": p.astype(np.float32)})
            _insert(ctx.con, "sentiment_predictions", df)
            n_rows += len(df)
    return n_rows, int(cut_any.sum())


def pool_tokens(states: np.ndarray, pool: str) -> np.ndarray:
    """One text's [T, H] states pooled over its units: min, max, or abs (the value of largest magnitude, with
    its sign; ties to the earlier unit). A text without units gives zeros."""
    if not len(states):
        return np.zeros(states.shape[1], np.float32)
    if pool == "min":
        return states.min(0)
    if pool == "max":
        return states.max(0)
    if pool == "abs":
        return np.take_along_axis(states, np.abs(states).argmax(0)[None], 0)[0]
    raise ValueError(f"unknown token pooling {pool!r}")


def token_pooled(ctx, texts, blocks: list[tuple[int, str]]) -> dict:
    """{(layer, pool): [N, H]} for the token-pooled blocks, from one run of the model over ``texts``."""
    if not blocks:
        return {}
    runner = ctx.runner()
    out = {b: [] for b in blocks}
    with limit_threads(1 if ctx.spec.kind == "lstm" else None):
        for start in range(0, len(texts), 256):
            for ts in runner.token_states(list(texts[start:start + 256])):
                for layer, pool in blocks:
                    out[(layer, pool)].append(pool_tokens(ts.states[layer], pool))
    return {b: np.stack(v).astype(np.float32) for b, v in out.items()}
