-- Schema version 6: the illusion score against a null of random directions (analysis.illusion_null), the
-- illusion-score page's headline: is a neuron's top-set consistency higher than a blindly chosen direction's?

create table illusion_null_scores (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    k integer not null,
    null_kind varchar not null,
    unit integer not null,
    consistency double,
    null_mean double,
    null_std double,
    z double,
    percentile double,
    p_value double,
    q_value double
);
-- key: run_id, layer, pooling, k, null_kind, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- check: illusion_null_scores have hidden_size units per layer: select count(*) from (select run_id, count(*) n
--     from illusion_null_scores group by run_id, layer, pooling, k, null_kind) s join runs r using (run_id) where
--     s.n <> r.hidden_size
comment on table illusion_null_scores is 'Every neuron of a layer against the consistency of random directions of the same layer, over all of the run''s datasets (analysis.illusion_null.illusion_null_scores; the random directions are in illusion_null).';
comment on column illusion_null_scores.run_id is 'The run.';
comment on column illusion_null_scores.layer is 'Layer index.';
comment on column illusion_null_scores.pooling is 'Pooling (as in activations).';
comment on column illusion_null_scores.k is 'Top sentences per dataset (the page''s default, 10).';
comment on column illusion_null_scores.null_kind is 'The random directions: gaussian (unit-norm Gaussian vectors) or rotation (the rows of random orthogonal matrices).';
comment on column illusion_null_scores.unit is 'Neuron index, 0-based.';
comment on column illusion_null_scores.consistency is 'Mean over dataset pairs of the cosine between the neuron''s top-k centroids (centred), the neuron''s own coordinate projected out: illusion_scores.consistency.';
comment on column illusion_null_scores.null_mean is 'Mean of the random directions'' consistency (each with its own direction projected out).';
comment on column illusion_null_scores.null_std is 'Its sample standard deviation (ddof 1).';
comment on column illusion_null_scores.z is '(consistency - null_mean) / null_std.';
comment on column illusion_null_scores.percentile is 'Share of random directions (in %) with a lower consistency.';
comment on column illusion_null_scores.p_value is 'Empirical p-value (1 + #random >= consistency) / (1 + #random): at least 1 / (1 + #random).';
comment on column illusion_null_scores.q_value is 'Benjamini-Hochberg adjusted p-value across the layer''s neurons: a neuron is more consistent than random directions at level q when q_value <= q.';

create table illusion_null (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    k integer not null,
    null_kind varchar not null,
    seed integer not null,
    direction integer not null,
    consistency double
);
-- key: run_id, layer, pooling, k, null_kind, direction
-- ref: run_id, layer -> layers(run_id, layer)
comment on table illusion_null is 'The null of illusion_null_scores: the consistency of each seeded random direction of the layer (analysis.illusion_null.null_consistency; the directions are analysis.illusion_null.null_directions(hidden_size, n, null_kind, seed), so they can be drawn again).';
comment on column illusion_null.run_id is 'The run.';
comment on column illusion_null.layer is 'Layer index.';
comment on column illusion_null.pooling is 'Pooling (as in activations).';
comment on column illusion_null.k is 'Top sentences per dataset.';
comment on column illusion_null.null_kind is 'gaussian or rotation (as in illusion_null_scores).';
comment on column illusion_null.seed is 'The seed of the random directions.';
comment on column illusion_null.direction is 'Index of the random direction, 0-based.';
comment on column illusion_null.consistency is 'Its top-set consistency across datasets (NaN when a projected centroid is 0).';
