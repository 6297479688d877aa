-- Schema version 7: explanation transfer (issue 23). Per unit and dataset, a seeded sample of sentences from each
-- of 10 activation quantiles and a non-activating sample, split into explain and held-out halves (delphi's /
-- OpenAI's NeuronRecord scheme), and the unit's summary statistics. Written by pipeline/stages/quantiles.py for
-- the layers its [quantiles] section names (default: the last); the sampling rules are in analysis/transfer.py.

create table quantile_examples (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    unit integer not null,
    quantile smallint not null,
    heldout boolean not null,
    sentence_id integer not null,
    value float not null
);
-- key: run_id, layer, pooling, dataset, unit, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: run_id, layer, pooling, dataset, unit -> quantile_stats(run_id, layer, pooling, dataset, unit)
-- check: quantile_examples quantiles are 0..10: select count(*) from quantile_examples where quantile not between 0
--     and 10
-- check: quantile_examples lie in their quantile's bounds: select count(*) from quantile_examples e join
--     quantile_stats s using (run_id, layer, pooling, dataset, unit) where (e.quantile = 0 and e.value > s.threshold)
--     or (e.quantile > 0 and (e.value <= s.threshold or e.value < s.bounds[e.quantile] or e.value >
--     s.bounds[e.quantile + 1]))
comment on table quantile_examples is 'Per unit and dataset: sentences drawn from each of the 10 quantiles of the activating sentences (activation above quantile_stats.threshold; quantile 1 the weakest, 10 the strongest) and from the non-activating ones (quantile 0), without replacement, seeded (analysis.transfer.quantile_sample). Each draw is split alternately, in draw order, into held-out (the 1st, 3rd, ... drawn) and explain halves: an explanation is written from the explain half (and the top-k) and scored on the held-out half of every dataset.';
comment on column quantile_examples.run_id is 'The run.';
comment on column quantile_examples.layer is 'Layer index.';
comment on column quantile_examples.pooling is 'Pooling (as in activations).';
comment on column quantile_examples.dataset is 'The dataset the sentence is from (quantiles are the dataset''s own).';
comment on column quantile_examples.unit is 'Neuron index, 0-based (activations.vec[unit + 1]).';
comment on column quantile_examples.quantile is '0: non-activating (activation <= threshold); 1..10: the activating quantile, bounds[quantile] <= value <= bounds[quantile + 1] (a value on a boundary goes to the lower quantile).';
comment on column quantile_examples.heldout is 'True: held out for scoring; false: shown to write an explanation from.';
comment on column quantile_examples.sentence_id is 'The sentence (sentences.sentence_id).';
comment on column quantile_examples.value is 'The unit''s activation on the sentence (as in activations).';

create table quantile_stats (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    unit integer not null,
    n integer not null,
    mean double,
    variance double,
    skewness double,
    kurtosis double,
    threshold double not null,
    n_active integer not null,
    density double,
    kind varchar not null,
    bounds double[]
);
-- key: run_id, layer, pooling, dataset, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- check: quantile_stats n is the dataset's sentences: select count(*) from quantile_stats s join datasets d using
--     (dataset) where s.n <> d.n_sentences
-- check: quantile_stats have hidden_size units per layer: select count(*) from (select run_id, count(*) n from
--     quantile_stats group by run_id, layer, pooling, dataset) s join runs r using (run_id) where s.n <> r.hidden_size
-- check: quantile_stats bounds have 11 values: select count(*) from quantile_stats where len(bounds) <> 11
comment on table quantile_stats is 'Per unit and dataset, over all of the dataset''s sentences: the moments of the unit''s activation (as scipy.stats.describe: variance with ddof 1, skewness and Fisher kurtosis biased), its activating threshold, density and the bounds of the activating quantiles that quantile_examples draws from.';
comment on column quantile_stats.run_id is 'The run.';
comment on column quantile_stats.layer is 'Layer index.';
comment on column quantile_stats.pooling is 'Pooling (as in activations).';
comment on column quantile_stats.dataset is 'The dataset.';
comment on column quantile_stats.unit is 'Neuron index, 0-based.';
comment on column quantile_stats.n is 'Sentences of the dataset.';
comment on column quantile_stats.mean is 'Mean activation.';
comment on column quantile_stats.variance is 'Variance (ddof 1; null for a dataset of one sentence).';
comment on column quantile_stats.skewness is 'Skewness (biased, scipy.stats.skew; NaN for a constant unit).';
comment on column quantile_stats.kurtosis is 'Excess (Fisher) kurtosis (biased, scipy.stats.kurtosis; NaN for a constant unit).';
comment on column quantile_stats.threshold is 'A sentence above it is activating: 0 for a sparse unit (median <= 0 < max: it fires where positive, as in delphi); the median for a dense one (positive on more than half the sentences, or on none: MiniLM''s residual dimensions), whose upper half counts as activating and lower half as non-activating.';
comment on column quantile_stats.n_active is 'Sentences above the threshold.';
comment on column quantile_stats.density is 'Share of sentences with a positive activation: how often a sparse unit (ReLU neuron, SAE feature) fires.';
comment on column quantile_stats.kind is 'sparse (at or below 0 on at least half the sentences, positive on some: threshold 0) or dense (threshold = the median).';
comment on column quantile_stats.bounds is 'The 11 boundaries of the 10 activating quantiles: np.quantile of the activating values at 0, 0.1, ..., 1 (null when no sentence is active).';
