-- Schema version 5: the per-neuron scores of the illusion-score and monotonicity pages' default views, computed
-- once by the build: each needs every sentence of a layer, too slow to compute on a page view.

create table illusion_scores (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    k integer not null,
    unit integer not null,
    consistency double,
    baseline_mean double,
    baseline_std double,
    robustness double
);
-- key: run_id, layer, pooling, k, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- check: illusion_scores and neuron_locality have hidden_size units per layer: select count(*) from (select
--     run_id, count(*) n from illusion_scores group by run_id, layer, pooling, k union all select run_id, count(*)
--     n from neuron_locality group by run_id, layer, pooling, dataset, k) s join runs r using (run_id) where s.n
--     <> r.hidden_size
comment on table illusion_scores is 'The illusion score of every neuron over all of the run''s datasets (the illusion-score page''s default view; analysis.illusion.illusion_scores: top-k centroids per dataset, their mean pairwise cosine without the unit''s own coordinate, against 20 seeded random draws).';
comment on column illusion_scores.run_id is 'The run.';
comment on column illusion_scores.layer is 'Layer index.';
comment on column illusion_scores.pooling is 'Pooling (as in activations).';
comment on column illusion_scores.k is 'Top sentences per dataset (the page''s default, 10).';
comment on column illusion_scores.unit is 'Neuron index, 0-based.';
comment on column illusion_scores.consistency is 'Mean over dataset pairs of the cosine between the neuron''s top-k centroids, its own coordinate left out (NaN when a centroid has no direction left).';
comment on column illusion_scores.baseline_mean is 'The same statistic for k random sentences per dataset: mean over 20 seeded draws.';
comment on column illusion_scores.baseline_std is 'Its sample standard deviation (ddof 1).';
comment on column illusion_scores.robustness is '(consistency - baseline_mean) / baseline_std, a z-score (NaN when the std is 0).';

create table neuron_locality (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    k integer not null,
    unit integer not null,
    locality double
);
-- key: run_id, layer, pooling, dataset, k, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: dataset -> datasets(dataset)
comment on table neuron_locality is 'The locality L of every neuron direction in one dataset (Bolukbasi et al. 2021 Section 5.2.1; analysis.locality.locality_all_neurons): histogram intersection over union of D_nearest and D_top. Datasets with fewer than 2k sentences have no rows.';
comment on column neuron_locality.run_id is 'The run.';
comment on column neuron_locality.layer is 'Layer index.';
comment on column neuron_locality.pooling is 'Pooling (as in activations).';
comment on column neuron_locality.dataset is 'The dataset.';
comment on column neuron_locality.k is 'Top sentences and nearest neighbours (the page''s default, 10).';
comment on column neuron_locality.unit is 'Neuron index, 0-based.';
comment on column neuron_locality.locality is 'L in [0, 1]: 1 when the top sentences are as close to each other as to their nearest neighbours.';

create table monotonic_tokens (
    run_id varchar not null,
    min_count integer not null,
    datasets varchar[] not null,
    tokens varchar[] not null
);
-- key: run_id, min_count
-- ref: run_id -> runs(run_id)
comment on table monotonic_tokens is 'The tokens of the monotonicity page''s default view: those occurring at least min_count times in each of the run''s datasets (sentence_tokens), sorted; token_directions.directions follows this order. Transformer runs only.';
comment on column monotonic_tokens.run_id is 'The run.';
comment on column monotonic_tokens.min_count is 'The threshold (the page''s default, 100, the paper''s).';
comment on column monotonic_tokens.datasets is 'The datasets each token had to reach the threshold in (all of the run''s).';
comment on column monotonic_tokens.tokens is 'The tokens, sorted.';

create table token_directions (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    min_count integer not null,
    unit integer not null,
    directions tinyint[] not null
);
-- key: run_id, layer, pooling, dataset, min_count, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: run_id, min_count -> monotonic_tokens(run_id, min_count)
-- check: token_directions have one entry per monotonic token: select count(*) from token_directions d left join
--     monotonic_tokens t using (run_id, min_count) where len(d.directions) <> coalesce(len(t.tokens), -1)
comment on table token_directions is 'Per neuron and dataset, whether each token of monotonic_tokens is monotonic across the neuron''s 5 activation quintiles (strictly increasing counts: 1, strictly decreasing: -1, otherwise 0; analysis.monotonicity).';
comment on column token_directions.run_id is 'The run.';
comment on column token_directions.layer is 'Layer index.';
comment on column token_directions.pooling is 'Pooling (as in activations).';
comment on column token_directions.dataset is 'The dataset.';
comment on column token_directions.min_count is 'The token threshold (monotonic_tokens.min_count).';
comment on column token_directions.unit is 'Neuron index, 0-based.';
comment on column token_directions.directions is 'One entry per token of monotonic_tokens.tokens, in that order: 1, -1 or 0.';
