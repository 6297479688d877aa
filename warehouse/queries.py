"""Named queries: one .sql file per query in warehouse/queries/, parameters always bound, never formatted.

Each function takes an open connection (or cursor) and returns a pandas DataFrame. Pages call these and
nothing else touches SQL.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence

import pandas as pd
import pyarrow.compute as pc

import warehouse
from warehouse import QUERY_DIR


@functools.cache
def sql(name: str) -> str:
    return (QUERY_DIR / f"{name}.sql").read_text()


def run(con, name: str, **params) -> pd.DataFrame:
    """Run a named query with bound parameters on its own cursor (safe to share a connection across threads)."""
    cur = warehouse.cursor(con)
    try:
        return cur.execute(sql(name), params).df()
    finally:
        cur.close()


def runs(con) -> pd.DataFrame:
    return run(con, "runs")


def layers(con, run_id: str) -> pd.DataFrame:
    return run(con, "layers", run_id=run_id)


def datasets(con, run_id: str) -> pd.DataFrame:
    return run(con, "datasets", run_id=run_id)


def examples(con, per_dataset: int = 3) -> pd.DataFrame:
    return run(con, "examples", per_dataset=per_dataset)


def search_sentences(con, pattern: str, datasets: Sequence[str] = (), limit: int = 200) -> pd.DataFrame:
    return run(con, "search_sentences", pattern=pattern, datasets=list(datasets), limit=limit)


def manifest(con) -> pd.DataFrame:
    return run(con, "manifest")


def stage_log(con) -> pd.DataFrame:
    return run(con, "stage_log")


def neuron_top(con, run_id: str, layer: int, pooling: str, unit: int, datasets: Sequence[str],
               k: int = 10, side: str = "top") -> pd.DataFrame:
    return run(con, "neuron_top", run_id=run_id, layer=layer, pooling=pooling, unit=unit, side=side, k=k,
               datasets=list(datasets))


def neuron_layer(con, run_id: str, layer: int, pooling: str) -> dict[str, dict]:
    """Every neuron's stored histogram, extremes and random-sentence values for one layer and pooling, as numpy
    blocks per dataset (H units, B bins, K = the dataset's stored list length, topk or fewer if it is smaller):
    {dataset: {lo, hi [H]; counts [H, B]; top_ids, top_vals, bottom_ids, bottom_vals, random_vals [H, K];
    random_ids [K]}}, datasets sorted. Empty when the warehouse has none for this layer."""
    import numpy as np
    import pyarrow.compute as pc

    cur = warehouse.cursor(con)
    try:
        t = cur.sql(sql("neuron_layer"), params={"run_id": run_id, "layer": layer, "pooling": pooling}).to_arrow_table()
    finally:
        cur.close()
    names = t.column("dataset").to_numpy(zero_copy_only=False)
    out = {}
    for name in dict.fromkeys(names.tolist()):
        rows = np.flatnonzero(names == name)
        part = t.slice(int(rows[0]), len(rows))  # contiguous: ordered by dataset, unit
        h = part.num_rows

        def block(col: str, dtype, part=part, h=h) -> np.ndarray:
            flat = pc.list_flatten(part.column(col).combine_chunks()).to_numpy(zero_copy_only=False)
            return flat.astype(dtype).reshape(h, -1)

        out[name] = {"lo": part.column("lo").to_numpy(), "hi": part.column("hi").to_numpy(),
                     "counts": block("counts", np.int64), "top_ids": block("top_ids", np.int64),
                     "top_vals": block("top_vals", np.float32), "bottom_ids": block("bottom_ids", np.int64),
                     "bottom_vals": block("bottom_vals", np.float32),
                     "random_vals": block("random_vals", np.float32),
                     "random_ids": block("random_ids", np.int64)[0]}
    return out


def random_sentences(con, run_id: str, datasets: Sequence[str], k: int) -> pd.DataFrame:
    """The first k sentences of each dataset's stored random draw: dataset, draw (1-based), sentence_id."""
    return run(con, "random_sentences", run_id=run_id, k=int(k), datasets=list(datasets))


def direction_top(con, run_id: str, layer: int, pooling: str, direction: Sequence[float],
                  datasets: Sequence[str], k: int = 10) -> pd.DataFrame:
    return run(con, "direction_top", run_id=run_id, layer=layer, pooling=pooling,
               direction=[float(v) for v in direction], k=k, datasets=list(datasets))


def direction_scores(con, run_id: str, layer: int, pooling: str, direction: Sequence[float],
                     datasets: Sequence[str]) -> pd.DataFrame:
    return run(con, "direction_scores", run_id=run_id, layer=layer, pooling=pooling,
               direction=[float(v) for v in direction], datasets=list(datasets))


def neuron_scores(con, run_id: str, layer: int, pooling: str, unit: int, datasets: Sequence[str]) -> pd.DataFrame:
    """Every sentence's activation of neuron ``unit`` (0-based): direction_scores with a one-hot, cheaper."""
    return run(con, "neuron_scores", run_id=run_id, layer=layer, pooling=pooling, unit=int(unit),
               datasets=list(datasets))


def sentence_distances(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str]) -> pd.DataFrame:
    """dataset, sentence_id, mean_distance (to the rest of its dataset), in (dataset, sentence_id) order."""
    return run(con, "sentence_distances", run_id=run_id, layer=layer, pooling=pooling, datasets=list(datasets))


def stored_illusion_scores(con, run_id: str, layer: int, pooling: str, k: int) -> pd.DataFrame:
    """unit, consistency, baseline_mean, baseline_std, robustness over all the run's datasets (the build's
    layer_scores stage); empty when the build stored none for this k."""
    return run(con, "stored_illusion_scores", run_id=run_id, layer=layer, pooling=pooling, k=k)


def stored_illusion_null_scores(con, run_id: str, layer: int, pooling: str, k: int) -> pd.DataFrame:
    """unit, consistency, null_mean, null_std, z, percentile, p_value, q_value, null_kind, n_null (the finite
    random consistencies), seed: the build's direction null over all the run's datasets (the illusion_null
    stage); empty when the build stored none for this k."""
    return run(con, "stored_illusion_null_scores", run_id=run_id, layer=layer, pooling=pooling, k=k)


def stored_illusion_null(con, run_id: str, layer: int, pooling: str, k: int, null_kind: str):
    """float64 [n] the stored random directions' consistency (NaN kept), in direction order."""
    df = run(con, "stored_illusion_null", run_id=run_id, layer=layer, pooling=pooling, k=k, null_kind=null_kind)
    return df["consistency"].to_numpy(dtype="float64")


def stored_locality(con, run_id: str, layer: int, pooling: str, dataset: str, k: int):
    """float64 [H] locality L by unit, or None when the build stored none for this dataset and k."""
    df = run(con, "stored_locality", run_id=run_id, layer=layer, pooling=pooling, dataset=dataset, k=k)
    return df["locality"].to_numpy(dtype="float64") if len(df) else None


def stored_monotonicity(con, run_id: str, layer: int, pooling: str, min_count: int):
    """(datasets, tokens, {dataset: int8 [H, T]}) of the build's stored monotonicity view, or None."""
    import numpy as np

    head = run(con, "stored_monotonic_tokens", run_id=run_id, min_count=min_count)
    if head.empty:
        return None
    datasets, tokens = list(head["datasets"].iloc[0]), list(head["tokens"].iloc[0])
    cur = warehouse.cursor(con)
    try:
        table = cur.sql(sql("stored_token_directions"), params={"run_id": run_id, "layer": layer,
                                                                "pooling": pooling, "min_count": min_count}).to_arrow_table()
    finally:
        cur.close()
    names = table.column("dataset").to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(table.column("directions").combine_chunks()).to_numpy(zero_copy_only=False)
    flat = flat.astype(np.int8).reshape(len(names), len(tokens))
    return datasets, tokens, {d: flat[names == d] for d in datasets if (names == d).any()}


def all_texts(con):
    """Every sentence's text as an Arrow table (dataset, sentence_id, text), in (dataset, sentence_id) order."""
    cur = warehouse.cursor(con)
    try:
        return cur.sql(sql("all_texts")).to_arrow_table()
    finally:
        cur.close()


def sentence_texts(con, keys: pd.DataFrame) -> pd.DataFrame:
    """Texts for the (dataset, sentence_id) rows of ``keys``."""
    records = [{"dataset": str(d), "sentence_id": int(i)} for d, i in zip(keys["dataset"], keys["sentence_id"])]
    if not records:
        return pd.DataFrame(columns=["dataset", "sentence_id", "text", "label", "label_text"])
    return run(con, "sentence_texts", keys=records)


def topk_ranges(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str], k: int = 10) -> pd.DataFrame:
    return run(con, "topk_ranges", run_id=run_id, layer=layer, pooling=pooling, datasets=list(datasets), k=k)


def stored_topk(con) -> int:
    """The k of neuron_topk (0 when the manifest does not say)."""
    df = run(con, "stored_topk")
    return int(df["topk"].iloc[0]) if len(df) and df["topk"].notna().iloc[0] else 0


def layer_matrix(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str]):
    """(x float32 [N, H], keys DataFrame[dataset, sentence_id]) for one layer, via Arrow (no per-row Python)."""
    import numpy as np
    import pyarrow.compute as pc

    cur = warehouse.cursor(con)
    try:
        table = cur.sql(sql("layer_vectors"), params={"run_id": run_id, "layer": layer, "pooling": pooling,
                                                      "datasets": list(datasets)}).to_arrow_table()
    finally:
        cur.close()
    vec = table.column("vec").combine_chunks()
    flat = pc.list_flatten(vec).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    x = flat.reshape(len(vec), -1) if len(vec) else np.zeros((0, 0), np.float32)
    # The stored values: int16 codes times their row's scale, in float32 as the activations view computes them.
    scale = table.column("scale").to_numpy().astype(np.float32, copy=False)
    if len(vec) and not (scale == 1).all():
        x = x * scale[:, None]
    keys = table.select(["dataset", "sentence_id"]).to_pandas()
    return x, keys


def dataset_texts(con, datasets: Sequence[str]) -> pd.DataFrame:
    return run(con, "dataset_texts", datasets=list(datasets))


def token_top(con, run_id: str, layer: int, unit: int, side: str, datasets: Sequence[str], k: int) -> pd.DataFrame:
    """One unit's token-level top (or bottom) sentences per dataset, with the extreme token and the text."""
    return run(con, "token_top", run_id=run_id, layer=layer, unit=unit, side=side, datasets=list(datasets), k=k)


def distant_sentences(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str], share: float) -> pd.DataFrame:
    """The most distant ``share`` of each dataset's sentences (sentence_distances), most distant first."""
    return run(con, "distant_sentences", run_id=run_id, layer=layer, pooling=pooling, datasets=list(datasets),
               share=float(share))


def export_examples(con, runs: Sequence[str] = (), top: int = 20) -> pd.DataFrame:
    """Every unit's stored extreme sentences (neuron_topk, ranks 1..top), with their text (export formats)."""
    return run(con, "export_examples", runs=list(runs), top=top)


def export_slices(con, runs: Sequence[str] = ()) -> pd.DataFrame:
    """The (run, layer, pooling) groups of units an export writes, with hook name, model and width."""
    return run(con, "export_slices", runs=list(runs))


def run_tokens(con, run_id: str, datasets: Sequence[str]) -> pd.DataFrame:
    return run(con, "run_tokens", run_id=run_id, datasets=list(datasets))


def topk_membership(con, run_id: str, layer: int, pooling: str, datasets: Sequence[str], k: int = 10) -> pd.DataFrame:
    """Per (dataset, sentence_id): how many neurons have the sentence in their top-k (count), with its text;
    only sentences that are top-k at least once, most frequent first."""
    return run(con, "topk_membership", run_id=run_id, layer=layer, pooling=pooling, datasets=list(datasets), k=k)


def separability(con, run_id: str) -> pd.DataFrame:
    return run(con, "separability", run_id=run_id)


def separability_confusion(con, run_id: str, layer: int, pooling: str) -> pd.DataFrame:
    return run(con, "separability_confusion", run_id=run_id, layer=layer, pooling=pooling)


def umap_points(con, run_id: str, pooling: str) -> pd.DataFrame:
    return run(con, "umap_points", run_id=run_id, pooling=pooling)


# Anisotropy
def anisotropy_layers(con, run_id: str) -> pd.DataFrame:
    return run(con, "anisotropy_layers", run_id=run_id)


def anisotropy_compare(con) -> pd.DataFrame:
    return run(con, "anisotropy_compare")


def anisotropy_word(con, run_id: str, word: str) -> pd.DataFrame:
    return run(con, "anisotropy_word", run_id=run_id, word=word)


def anisotropy_word_contexts(con, run_id: str, word: str, sample: str) -> pd.DataFrame:
    return run(con, "anisotropy_word_contexts", run_id=run_id, word=word, sample=sample)


def anisotropy_word_list(con, run_id: str) -> pd.DataFrame:
    return run(con, "anisotropy_word_list", run_id=run_id)


def anisotropy_static_words(con, run_id: str, layer: int, dataset: str, k: int = 20, by: str = "mev") -> pd.DataFrame:
    """Highest MEV first; ``by="mev_adj"`` ranks by MEV minus its chance level for the word's context count."""
    return run(con, "anisotropy_static_words", run_id=run_id, layer=layer, dataset=dataset, k=k, by=by)


def anisotropy_contextual_words(con, run_id: str, layer: int, dataset: str, k: int = 20) -> pd.DataFrame:
    return run(con, "anisotropy_contextual_words", run_id=run_id, layer=layer, dataset=dataset, k=k)


def anisotropy_static_across(con, run_id: str, dataset: str, k: int = 20) -> pd.DataFrame:
    """Words ranked by their lowest MEV over every layer (static at every depth), with mean and max."""
    return run(con, "anisotropy_static_across", run_id=run_id, dataset=dataset, k=k)


def anisotropy_contexts_of_words(con, run_id: str, sample: str, words: Sequence[str]) -> pd.DataFrame:
    return run(con, "anisotropy_contexts_of_words", run_id=run_id, sample=sample, words=[str(w) for w in words])


# Span match / token_states
def span_layers(con) -> pd.DataFrame:
    """Every (run, layer) with stored token states: n_sentences, n_steps, dtypes, bytes_per_step, max_error."""
    return run(con, "spans_layers")


def span_units(con, run_id: str) -> pd.DataFrame:
    """The run's stored sentences in block order: dataset, sentence_id, n_units, units, starts, ends, text,
    truncated."""
    return run(con, "spans_units", run_id=run_id)


def span_search(con, run_id: str, pattern: str, limit: int = 200) -> pd.DataFrame:
    return run(con, "spans_search", run_id=run_id, pattern=pattern, limit=limit)


def span_state_rows(con, run_id: str, layer: int) -> dict:
    """The packed states of one (run, layer) in block order, as columns: dataset, sentence_id, n_units, dtype,
    scale (Python lists) and states (a list of bytes). Read via Arrow, not a per-row DataFrame."""
    cur = warehouse.cursor(con)
    try:
        table = cur.sql(sql("spans_states"), params={"run_id": run_id, "layer": layer}).to_arrow_table()
    finally:
        cur.close()
    order = pc.sort_indices(table, sort_keys=[("dataset", "ascending"), ("sentence_id", "ascending")])
    table = table.take(order)
    return {name: table.column(name).to_pylist() for name in table.column_names}


# Sentiment
def sentiment_runs(con) -> pd.DataFrame:
    return run(con, "sentiment_runs")


def sentiment_datasets(con, run_id: str) -> pd.DataFrame:
    return run(con, "sentiment_datasets", run_id=run_id)


def sentiment_features(con, run_id: str) -> pd.DataFrame:
    return run(con, "sentiment_features", run_id=run_id)


def sentiment_classifiers(con, run_id: str, dataset: str) -> pd.DataFrame:
    return run(con, "sentiment_classifiers", run_id=run_id, dataset=dataset)


def sentiment_units(con, run_id: str, dataset: str, feature: str, penalty: str) -> pd.DataFrame:
    return run(con, "sentiment_units", run_id=run_id, dataset=dataset, feature=feature, penalty=penalty)


def sentiment_subsets(con, run_id: str, dataset: str, feature: str, penalty: str) -> pd.DataFrame:
    return run(con, "sentiment_subsets", run_id=run_id, dataset=dataset, feature=feature, penalty=penalty)


def sentiment_predictions(con, run_id: str, dataset: str, penalty: str) -> pd.DataFrame:
    return run(con, "sentiment_predictions", run_id=run_id, dataset=dataset, penalty=penalty)


# Attention
def attention_runs(con) -> pd.DataFrame:
    return run(con, "attention_runs")


def attention_datasets(con, run_id: str) -> pd.DataFrame:
    return run(con, "attention_datasets", run_id=run_id)


def attention_layers(con, run_id: str, dataset: str) -> pd.DataFrame:
    return run(con, "attention_layers", run_id=run_id, dataset=dataset)


def attention_points(con, run_id: str, dataset: str, layer: int) -> pd.DataFrame:
    return run(con, "attention_points", run_id=run_id, dataset=dataset, layer=int(layer))


def attention_quality(con, run_id: str, dataset: str) -> pd.DataFrame:
    return run(con, "attention_quality", run_id=run_id, dataset=dataset)


def attention_tests(con, run_id: str, dataset: str) -> pd.DataFrame:
    return run(con, "attention_tests", run_id=run_id, dataset=dataset)


def attention_heads(con, run_id: str) -> pd.DataFrame:
    return run(con, "attention_heads", run_id=run_id)


# Nearest sentences
def nearest_sentences(con, run_id: str, layer: int, pooling: str, dataset: str, sentence_id: int,
                      datasets: Sequence[str], k: int = 10) -> pd.DataFrame:
    """The k nearest sentences by cosine to the stored sentence (dataset, sentence_id), per chosen dataset, the
    sentence itself left out: dataset, rank (1-based), sentence_id, similarity, text. Ties to the lower id."""
    return run(con, "nearest_sentences", run_id=run_id, layer=int(layer), pooling=pooling, dataset=dataset,
               sentence_id=int(sentence_id), k=int(k), datasets=list(datasets))


def nearest_to_vector(con, run_id: str, layer: int, pooling: str, vector: Sequence[float],
                      datasets: Sequence[str], k: int = 10) -> pd.DataFrame:
    """nearest_sentences for an arbitrary vector (hidden_size values), e.g. a typed-in text's."""
    return run(con, "nearest_to_vector", run_id=run_id, layer=int(layer), pooling=pooling,
               vector=[float(v) for v in vector], k=int(k), datasets=list(datasets))


def run_spec(con, run_id: str) -> dict | None:
    """{run_id, model_kind, model_path, spec_json} of one run (what re-runs its model on new text), or None."""
    df = run(con, "nearest_run_spec", run_id=run_id)
    return df.iloc[0].to_dict() if len(df) else None


def table_names(con) -> list[str]:
    """Every table of the warehouse (main schema), sorted."""
    return run(con, "table_names")["table_name"].tolist()


def has_tables(con, *names: str) -> bool:
    """Whether the warehouse has every one of the tables ``names`` (a study that was never built has none)."""
    return set(names) <= set(table_names(con))


# Dictionaries (SAE features as units)
def dictionary_runs(con) -> pd.DataFrame:
    """Every dictionary run: run_id, base_run_id, layer, site, origin, kind, activation, path, d_in, n_features,
    k, seed, training_tokens, training_steps, explained_variance_heldout, poolings, fingerprint."""
    return run(con, "dictionary_runs")


def dictionary_quality(con, run_id: str) -> pd.DataFrame:
    """Per dataset: n_tokens, explained_variance, mse, l0, n_dead, dead_share, median_density, mean_density."""
    return run(con, "dictionary_quality", run_id=run_id)


def dictionary_density(con, run_id: str) -> pd.DataFrame:
    """dataset, unit, n_active, n_tokens, density of every feature of a dictionary run."""
    return run(con, "dictionary_density", run_id=run_id)


def dictionary_compare(con, run_id: str, base_run_id: str, layer: int, pooling: str, base_pooling: str,
                       k: int) -> pd.DataFrame:
    """what (dictionary features | neurons | random directions), unit, consistency: the stored top-set
    consistencies of the dictionary run's features and of its base run's neurons and random directions."""
    return run(con, "dictionary_compare", run_id=run_id, base_run_id=base_run_id, layer=int(layer),
               pooling=pooling, base_pooling=base_pooling, k=int(k))


# Per-example attention
def attention_example_runs(con) -> pd.DataFrame:
    """run_id, model_name, n_blocks, n_heads, n_examples of every transformer run."""
    return run(con, "attention_example_runs")


def attention_example_datasets(con, run_id: str) -> pd.DataFrame:
    """dataset, n_sentences, is_pair (every item has a second text), n_examples (items stored for ``run_id``)."""
    return run(con, "attention_example_datasets", run_id=run_id)


def attention_example_items(con, run_id: str, dataset: str) -> pd.DataFrame:
    """sentence_id, n_tokens, text, text_b of the items whose attention is stored."""
    return run(con, "attention_example_items", run_id=run_id, dataset=dataset)


def attention_example(con, run_id: str, dataset: str, sentence_id: int) -> dict | None:
    """One item's attention_examples row as a dict (weights as bytes), or None when it is not stored."""
    df = run(con, "attention_example", run_id=run_id, dataset=dataset, sentence_id=int(sentence_id))
    if not len(df):
        return None
    row = df.iloc[0].to_dict()
    row["weights"] = bytes(row["weights"])
    return row


def attention_example_sentence(con, dataset: str, sentence_id: int) -> dict | None:
    """sentence_id, text, text_b, label, label_text of one sentence, or None."""
    df = run(con, "attention_example_sentence", dataset=dataset, sentence_id=int(sentence_id))
    return df.iloc[0].to_dict() if len(df) else None


# --- Explanation transfer (quantile samples and summary statistics, schema 011) ---------------------------------

def quantile_examples(con, run_id: str, layer: int, pooling: str, unit: int, datasets: Sequence[str]) -> pd.DataFrame:
    return run(con, "quantile_examples", run_id=run_id, layer=layer, pooling=pooling, unit=unit,
               datasets=list(datasets))


def quantile_stats(con, run_id: str, layer: int, pooling: str, unit: int, datasets: Sequence[str]) -> pd.DataFrame:
    return run(con, "quantile_stats", run_id=run_id, layer=layer, pooling=pooling, unit=unit, datasets=list(datasets))


def quantile_layers(con, run_id: str) -> pd.DataFrame:
    return run(con, "quantile_layers", run_id=run_id)
