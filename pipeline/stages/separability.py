"""Separability stage (Bolukbasi et al. 2021, Hypothesis 1): do the datasets occupy distinct regions?

For every layer and pooling of a run: a linear SVM that tells the datasets apart (held-out accuracy and
confusion matrix); for the last layer, a 2-D UMAP of a sample. Pure functions first, then the stage writer.
These need scikit-learn and umap-learn, so they live with the pipeline, not in analysis/ (the dashboard's).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from warehouse import queries

NAME = "separability"
SECTION = None  # its two settings are build-wide (separability_per_dataset, umap_per_dataset)
TABLES = ("separability", "separability_confusion", "umap_coords")
SOURCES = ("pipeline/stages/separability.py",)


def stratified_sample(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Row indices: at most ``per_class`` rows of each label, drawn without replacement, seeded; sorted."""
    picks = []
    for i, label in enumerate(sorted(set(labels.tolist()))):
        rows = np.flatnonzero(labels == label)
        take = min(per_class, len(rows))
        picks.append(np.random.default_rng([seed, i]).choice(rows, size=take, replace=False))
    return np.sort(np.concatenate(picks))


def svm_separability(x: np.ndarray, labels: np.ndarray, per_class: int = 1000, test_size: float = 0.2,
                     seed: int = 0, c: float = 1.0) -> dict:
    """Held-out accuracy of a linear SVM predicting the dataset of each sentence.

    x: [N, H] sentence vectors; labels: [N] dataset names. At most ``per_class`` sentences per dataset (seeded),
    a stratified split (``test_size`` held out), standardised features, sklearn LinearSVC(C=c).
    Returns accuracy, chance (the majority class's share of the test split), n_train, n_test, and the
    confusion matrix as a long frame (true_dataset, predicted_dataset, n).
    """
    from sklearn.metrics import accuracy_score, confusion_matrix
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    idx = stratified_sample(labels, per_class, seed)
    xs, ys = x[idx], labels[idx]
    x_tr, x_te, y_tr, y_te = train_test_split(xs, ys, test_size=test_size, random_state=seed, stratify=ys)
    model = make_pipeline(StandardScaler(), LinearSVC(C=c, random_state=seed, max_iter=5000))
    model.fit(x_tr, y_tr)
    pred = model.predict(x_te)
    classes = sorted(set(ys.tolist()))
    cm = confusion_matrix(y_te, pred, labels=classes)
    confusion = pd.DataFrame([(t, p, int(cm[i, j])) for i, t in enumerate(classes) for j, p in enumerate(classes)],
                             columns=["true_dataset", "predicted_dataset", "n"])
    _, counts = np.unique(y_te, return_counts=True)
    return {"accuracy": float(accuracy_score(y_te, pred)), "chance": float(counts.max() / len(y_te)),
            "n_train": len(y_tr), "n_test": len(y_te), "confusion": confusion}


def split_is_possible(counts, test_size: float = 0.2) -> bool:
    """Whether a stratified train/test split of sampled sentences (``counts`` per dataset) can hold every dataset
    on both sides, as sklearn's train_test_split(stratify=...) requires: each dataset needs 2 sentences, and the
    test and train parts at least one sentence per dataset."""
    counts = [int(c) for c in counts]
    total = sum(counts)
    n_test = math.ceil(test_size * total)
    return len(counts) >= 2 and min(counts) >= 2 and len(counts) <= n_test <= total - len(counts)


def umap_2d(x: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """[N, 2] UMAP embedding (cosine metric). Seeded, so the same input gives the same coordinates."""
    import umap

    n_neighbors = max(2, min(n_neighbors, len(x) - 1))
    reducer = umap.UMAP(n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine", random_state=seed,
                        n_jobs=1)  # a seed forces one thread anyway; saying so silences umap's warning
    return reducer.fit_transform(np.asarray(x, dtype=np.float32)).astype(np.float32)


def settings(cfg, spec, datasets) -> dict | None:
    if not cfg.separability_per_dataset or len(datasets) < 2:
        return None
    return {"per_dataset": cfg.separability_per_dataset, "umap_per_dataset": cfg.umap_per_dataset}


def run(ctx) -> int:
    """The per-run stage: every layer x pooling of the run (see pipeline.stages)."""
    info = ctx.run_info()
    ctx.log(f"separability {ctx.run_id}: linear SVM per layer, UMAP of the last layer")
    return run_stage(ctx.con, ctx.run_id, int(info["n_layers"]), list(info["poolings"]), list(ctx.datasets),
                     ctx.cfg.separability_per_dataset, ctx.cfg.umap_per_dataset, ctx.cfg.seed, ctx.progress)


def run_stage(con, run_id: str, n_layers: int, poolings, datasets, per_dataset: int, umap_per_dataset: int,
              seed: int, progress: bool = False) -> int:
    """Compute and insert separability rows for one run; returns the number of (layer, pooling) models."""
    from tqdm.auto import tqdm

    if len(datasets) < 2:
        return 0
    sizes = dict(con.execute("select dataset, n_sentences from datasets").fetchall())
    if not split_is_possible([min(per_dataset, sizes.get(d, 0)) for d in datasets]):
        return 0  # the page says the run has no separability rows
    jobs = [(layer, pooling) for layer in range(n_layers) for pooling in poolings]
    done = 0
    for layer, pooling in tqdm(jobs, desc=f"{run_id} separability", disable=not progress, unit="layer"):
        x, keys = queries.layer_matrix(con, run_id, layer, pooling, datasets)
        labels = keys["dataset"].to_numpy()
        res = svm_separability(x, labels, per_class=per_dataset, seed=seed)
        con.execute("insert into separability values (?, ?, ?, ?, ?, ?, ?, ?)",
                    [run_id, layer, pooling, res["accuracy"], res["chance"], res["n_train"], res["n_test"],
                     per_dataset])
        confusion = res["confusion"].assign(run_id=run_id, layer=layer, pooling=pooling)[  # noqa: F841
            ["run_id", "layer", "pooling", "true_dataset", "predicted_dataset", "n"]]
        con.execute("insert into separability_confusion select * from confusion")
        if umap_per_dataset and layer == n_layers - 1:
            idx = stratified_sample(labels, umap_per_dataset, seed)
            xy = umap_2d(x[idx], seed=seed)
            coords = pd.DataFrame({"run_id": run_id, "layer": layer, "pooling": pooling,  # noqa: F841
                                   "dataset": labels[idx], "sentence_id": keys["sentence_id"].to_numpy()[idx],
                                   "x": xy[:, 0], "y": xy[:, 1]})
            con.execute("insert into umap_coords select * from coords")
        done += 1
    return done
