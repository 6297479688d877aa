-- Schema version 4: per-neuron score histograms and a fixed random-sentence baseline, so that the drift page
-- answers a neuron change from a few small rows instead of scanning the layer's activations.

create table neuron_histograms (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    unit integer not null,
    lo double not null,
    hi double not null,
    counts integer[] not null,
    random_vals float[] not null
);
-- key: run_id, layer, pooling, dataset, unit
-- ref: run_id, layer -> layers(run_id, layer)
-- check: neuron_histograms counts sum to the dataset's sentences: select count(*) from neuron_histograms h join
--     datasets d using (dataset) where list_sum(h.counts) <> d.n_sentences
-- check: neuron_histograms random_vals match random_sentences: select count(*) from neuron_histograms h left join
--     random_sentences r using (run_id, dataset) where len(h.random_vals) <> coalesce(len(r.sentence_ids), -1)
comment on table neuron_histograms is 'For every neuron and dataset: the histogram of its activations over all of the dataset''s sentences (equal-width bins from lo to hi, the last bin closed, as numpy.histogram), and its values on the dataset''s fixed random sentences (random_sentences).';
comment on column neuron_histograms.run_id is 'The run.';
comment on column neuron_histograms.layer is 'Layer index.';
comment on column neuron_histograms.pooling is 'Pooling (as in activations).';
comment on column neuron_histograms.dataset is 'The dataset.';
comment on column neuron_histograms.unit is 'Neuron index, 0-based (activations.vec[unit + 1]).';
comment on column neuron_histograms.lo is 'The lowest activation in the dataset: the left edge of the first bin.';
comment on column neuron_histograms.hi is 'The highest activation: the right edge of the last bin (hi = lo: constant, every sentence in bin 1).';
comment on column neuron_histograms.counts is 'Sentences per bin (40 bins by default); they sum to the dataset''s sentence count.';
comment on column neuron_histograms.random_vals is 'The activation on each of random_sentences.sentence_ids of this run and dataset, in the same order.';

create table random_sentences (
    run_id varchar not null,
    dataset varchar not null,
    sentence_ids integer[] not null
);
-- key: run_id, dataset
-- ref: (select dataset, unnest(sentence_ids) as sentence_id from random_sentences)(dataset, sentence_id) ->
--     sentences(dataset, sentence_id)
comment on table random_sentences is 'The random-sentence baseline of the drift page: per dataset, a seeded uniform draw without replacement of k = config topk sentences (numpy default_rng([seed, crc32(dataset)]).permutation, first k; any prefix is itself a uniform draw). The same for every run of a build; stored per run so a run''s rows travel together.';
comment on column random_sentences.run_id is 'The run.';
comment on column random_sentences.dataset is 'The dataset.';
comment on column random_sentences.sentence_ids is 'The drawn sentences (sentences.sentence_id), in draw order.';

create table sentence_distances (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    mean_distance double not null
);
-- key: run_id, layer, pooling, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
comment on table sentence_distances is 'For every sentence vector: its mean Euclidean distance to every other sentence of the same dataset, in the layer''s full space (the outliers page, Bolukbasi et al. 2021 Section 5.2.2). O(n^2) per dataset, so computed once by the build, not on the page.';
comment on column sentence_distances.run_id is 'The run.';
comment on column sentence_distances.layer is 'Layer index.';
comment on column sentence_distances.pooling is 'Pooling (as in activations).';
comment on column sentence_distances.dataset is 'The dataset.';
comment on column sentence_distances.sentence_id is 'The sentence.';
comment on column sentence_distances.mean_distance is 'Mean Euclidean distance to the dataset''s other sentences (0 for a dataset of one sentence).';
