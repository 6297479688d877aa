from __future__ import annotations

UNIQUE = {
    "meta": ["key"],
    "runs": ["run_id"],
    "layers": ["run_id", "layer"],
    "datasets": ["dataset"],
    "sentences": ["dataset", "sentence_id"],
    "sentence_lengths": ["run_id", "dataset", "sentence_id"],
    "sentence_tokens": ["run_id", "dataset", "sentence_id", "token"],
    "activations": ["run_id", "layer", "pooling", "dataset", "sentence_id"],
    "neuron_topk": ["run_id", "layer", "pooling", "dataset", "unit", "side"],
    "neuron_histograms": ["run_id", "layer", "pooling", "dataset", "unit"],
    "random_sentences": ["run_id", "dataset"],
    "sentence_distances": ["run_id", "layer", "pooling", "dataset", "sentence_id"],
    "illusion_scores": ["run_id", "layer", "pooling", "k", "unit"],
    "neuron_locality": ["run_id", "layer", "pooling", "dataset", "k", "unit"],
    "monotonic_tokens": ["run_id", "min_count"],
    "token_directions": ["run_id", "layer", "pooling", "dataset", "min_count", "unit"],
    "stage_log": ["stage", "key"],
    "separability": ["run_id", "layer", "pooling"],
    "separability_confusion": ["run_id", "layer", "pooling", "true_dataset", "predicted_dataset"],
    "umap_coords": ["run_id", "layer", "pooling", "dataset", "sentence_id"],
    # --- anisotropy (issue 4) ---
    "anisotropy_layers": ["run_id", "layer", "dataset"],
    "anisotropy_words": ["run_id", "layer", "dataset", "word"],
    "anisotropy_contexts": ["run_id", "sample", "word", "dataset", "sentence_id"],
    "anisotropy_sentences": ["run_id", "layer", "dataset", "sentence_id"],
    # --- end anisotropy ---
    # --- token_states (issue 7) ---
    "token_units": ["run_id", "dataset", "sentence_id"],
    "token_states": ["run_id", "layer", "dataset", "sentence_id"],
    # --- end token_states ---
    # --- sentiment (issue 5) ---
    "sentiment_datasets": ["run_id", "dataset"],
    "sentiment_features": ["run_id", "feature"],
    "sentiment_classifiers": ["run_id", "dataset", "feature", "penalty", "model"],
    "sentiment_units": ["run_id", "dataset", "feature", "penalty", "unit"],
    "sentiment_subsets": ["run_id", "dataset", "feature", "penalty", "subset"],
    "sentiment_labels": ["run_id", "dataset", "sentence_id"],
    "sentiment_predictions": ["run_id", "dataset", "feature", "penalty", "attack", "sentence_id"],
    # --- end sentiment ---
    # --- attention (issue 6) ---
    "attention_items": ["run_id", "dataset", "sentence_id"],
    "attention_points": ["run_id", "dataset", "layer", "sentence_id"],
    "attention_layers": ["run_id", "dataset", "layer", "feature_set"],
    "attention_quality": ["run_id", "dataset", "layer", "feature_set", "algorithm", "params", "k"],
    "attention_tests": ["run_id", "dataset", "layer", "feature_set", "covariate"],
    "attention_pairs": ["run_id", "dataset", "layer", "feature_set", "covariate", "cluster_a", "cluster_b"],
    "attention_heads": ["run_id", "dataset", "head", "mode"],
    # --- end attention ---
}
# (child table or subquery, child columns, parent table, parent columns)
FOREIGN = [
    ("layers", ["run_id"], "runs", ["run_id"]),
    ("sentences", ["dataset"], "datasets", ["dataset"]),
    ("sentence_lengths", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("sentence_lengths", ["run_id"], "runs", ["run_id"]),
    ("sentence_tokens", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("activations", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("activations", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("(select dataset, unnest(sentence_ids) as sentence_id from neuron_topk)", ["dataset", "sentence_id"],
     "sentences", ["dataset", "sentence_id"]),
    ("neuron_topk", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("neuron_histograms", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("sentence_distances", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("sentence_distances", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("illusion_scores", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("neuron_locality", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("neuron_locality", ["dataset"], "datasets", ["dataset"]),
    ("monotonic_tokens", ["run_id"], "runs", ["run_id"]),
    ("token_directions", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("token_directions", ["run_id", "min_count"], "monotonic_tokens", ["run_id", "min_count"]),
    ("(select dataset, unnest(sentence_ids) as sentence_id from random_sentences)", ["dataset", "sentence_id"],
     "sentences", ["dataset", "sentence_id"]),
    ("separability", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("umap_coords", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("umap_coords", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    # --- anisotropy (issue 4) ---
    ("anisotropy_layers", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("(select * from anisotropy_layers where dataset <> '(pooled)')", ["dataset"], "datasets", ["dataset"]),
    ("anisotropy_words", ["run_id", "layer", "dataset"], "anisotropy_layers", ["run_id", "layer", "dataset"]),
    ("anisotropy_contexts", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("anisotropy_contexts", ["run_id"], "runs", ["run_id"]),
    ("(select * from anisotropy_contexts where used)", ["run_id", "sample", "word"],
     "(select distinct run_id, dataset, word from anisotropy_words)", ["run_id", "dataset", "word"]),
    ("anisotropy_sentences", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("anisotropy_sentences", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    # --- end anisotropy ---
    # --- token_states (issue 7) ---
    ("token_units", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("token_units", ["run_id"], "runs", ["run_id"]),
    ("token_states", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    # same units (and as many) as token_units says
    ("token_states", ["run_id", "dataset", "sentence_id", "n_units"], "token_units",
     ["run_id", "dataset", "sentence_id", "n_units"]),
    # offsets lists as long as the units list
    ("token_units", ["run_id", "dataset", "sentence_id"],
     "(select * from token_units where len(units) = n_units and len(starts) = n_units and len(ends) = n_units)",
     ["run_id", "dataset", "sentence_id"]),
    # every packed array holds exactly n_units x hidden_size values of its dtype
    ("token_states", ["run_id", "layer", "dataset", "sentence_id"],
     "(select s.* from token_states s join runs r using (run_id) where octet_length(s.states) = s.n_units * "
     "r.hidden_size * case s.dtype when 'int8' then 1 when 'float16' then 2 when 'float32' then 4 end)",
     ["run_id", "layer", "dataset", "sentence_id"]),
    # --- end token_states ---
    # --- sentiment (issue 5) ---
    ("sentiment_datasets", ["run_id"], "runs", ["run_id"]),
    ("sentiment_datasets", ["dataset"], "datasets", ["dataset"]),
    ("sentiment_features", ["run_id"], "runs", ["run_id"]),
    ("(select run_id, unnest(layers) as layer from sentiment_features)", ["run_id", "layer"], "layers",
     ["run_id", "layer"]),
    ("sentiment_classifiers", ["run_id", "feature"], "sentiment_features", ["run_id", "feature"]),
    ("(select * from sentiment_classifiers where model <> 'all')",
     ["run_id", "dataset", "feature", "penalty"], "(select * from sentiment_classifiers where model = 'all')",
     ["run_id", "dataset", "feature", "penalty"]),
    ("sentiment_classifiers", ["run_id", "dataset"], "(select * from sentiment_datasets where status = 'done')",
     ["run_id", "dataset"]),
    ("sentiment_units", ["run_id", "dataset", "feature", "penalty"], "sentiment_classifiers",
     ["run_id", "dataset", "feature", "penalty"]),
    ("sentiment_units", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("sentiment_subsets", ["run_id", "dataset", "feature", "penalty"], "sentiment_classifiers",
     ["run_id", "dataset", "feature", "penalty"]),
    ("sentiment_labels", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("sentiment_labels", ["run_id", "dataset"], "(select * from sentiment_datasets where status = 'done')",
     ["run_id", "dataset"]),
    ("sentiment_predictions", ["run_id", "dataset", "sentence_id"],
     "(select * from sentiment_labels where split = 'test')", ["run_id", "dataset", "sentence_id"]),
    ("sentiment_predictions", ["run_id", "dataset", "feature", "penalty"], "sentiment_classifiers",
     ["run_id", "dataset", "feature", "penalty"]),
    # --- end sentiment ---
    # --- attention (issue 6) ---
    ("attention_items", ["dataset", "sentence_id"], "sentences", ["dataset", "sentence_id"]),
    ("attention_items", ["run_id"], "(select * from runs where model_kind = 'transformer')", ["run_id"]),
    ("attention_points", ["run_id", "dataset", "sentence_id"], "attention_items", ["run_id", "dataset", "sentence_id"]),
    ("attention_points", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("attention_points", ["run_id", "dataset", "layer"], "attention_layers", ["run_id", "dataset", "layer"]),
    ("attention_layers", ["run_id", "dataset", "layer"], "attention_points", ["run_id", "dataset", "layer"]),
    ("attention_quality", ["run_id", "dataset", "layer", "feature_set"], "attention_layers",
     ["run_id", "dataset", "layer", "feature_set"]),
    ("(select * from attention_layers where algorithm is not null)", ["run_id", "dataset", "layer", "feature_set"],
     "(select * from attention_quality where chosen)", ["run_id", "dataset", "layer", "feature_set"]),
    ("attention_tests", ["run_id", "dataset", "layer", "feature_set"], "attention_layers",
     ["run_id", "dataset", "layer", "feature_set"]),
    ("attention_pairs", ["run_id", "dataset", "layer", "feature_set", "covariate"], "attention_tests",
     ["run_id", "dataset", "layer", "feature_set", "covariate"]),
    ("attention_heads", ["run_id", "layer"], "layers", ["run_id", "layer"]),
    ("attention_heads", ["dataset"], "datasets", ["dataset"]),
    # --- end attention ---
]


def legacy_contract_queries() -> list[tuple[str, str]]:
    """(description, SQL returning the number of violating rows)."""
    out = []
    for table, key in UNIQUE.items():
        cols = ", ".join(key)
        out.append((f"{table} unique ({cols})",
                    f"select count(*) from (select {cols} from {table} group by all having count(*) > 1)"))
        nulls = " or ".join(f"{c} is null" for c in key)
        out.append((f"{table} not null ({cols})", f"select count(*) from {table} where {nulls}"))
    for child, ccols, parent, pcols in FOREIGN:
        on = " and ".join(f"c.{a} = p.{b}" for a, b in zip(ccols, pcols))
        out.append((f"{child}({', '.join(ccols)}) -> {parent}",
                    f"select count(*) from {child} c anti join {parent} p on {on}"))
    out.append(("datasets.n_sentences matches sentences",
                "select count(*) from datasets d left join (select dataset, count(*) n from sentences "
                "group by dataset) s using (dataset) where coalesce(s.n, 0) <> d.n_sentences"))
    out.append(("neuron_topk lists have equal lengths",
                "select count(*) from neuron_topk where len(sentence_ids) <> len(vals) or len(vals) = 0"))
    out.append(("neuron_histograms counts sum to the dataset's sentences",
                "select count(*) from neuron_histograms h join datasets d using (dataset) "
                "where list_sum(h.counts) <> d.n_sentences"))
    out.append(("neuron_histograms random_vals match random_sentences",
                "select count(*) from neuron_histograms h left join random_sentences r using (run_id, dataset) "
                "where len(h.random_vals) <> coalesce(len(r.sentence_ids), -1)"))
    out.append(("token_directions have one entry per monotonic token",
                "select count(*) from token_directions d left join monotonic_tokens t using (run_id, min_count) "
                "where len(d.directions) <> coalesce(len(t.tokens), -1)"))
    out.append(("illusion_scores and neuron_locality have hidden_size units per layer",
                "select count(*) from (select run_id, count(*) n from illusion_scores group by run_id, layer, pooling, k "
                "union all select run_id, count(*) n from neuron_locality group by run_id, layer, pooling, dataset, k) "
                "s join runs r using (run_id) where s.n <> r.hidden_size"))
    out.append(("activations.vec has hidden_size values",
                "select count(*) from activations a join runs r using (run_id) where len(a.vec) <> r.hidden_size"))
    # --- attention (issue 6) ---
    out.append(("attention_quality has one chosen row per layer and feature set at most",
                "select count(*) from (select run_id, dataset, layer, feature_set from attention_quality where chosen "
                "group by all having count(*) > 1)"))
    out.append(("attention_points.features has 7 values per head",
                "select count(*) from attention_points a join runs r using (run_id) "
                "where len(a.features) <> 7 * r.n_heads"))
    # --- end attention ---
    return out


