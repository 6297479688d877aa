-- Schema version 7: dictionary (SAE) features as units (pipeline/stages/dictionary.py). A model whose sites
-- include "sae" has a dictionary run <run_id>-sae, stored like any run (runs, layers, activations, neuron_topk,
-- ...: one layer, n_features units); these tables say where its dictionary came from and how well it fits.

create table dictionaries (
    run_id varchar not null,
    base_run_id varchar not null,
    layer integer not null,
    site varchar not null,
    origin varchar not null,
    kind varchar not null,
    activation varchar not null,
    path varchar,
    source varchar not null,
    d_in integer not null,
    n_features integer not null,
    k integer,
    seed integer,
    training_tokens bigint,
    training_steps integer,
    explained_variance_heldout double,
    poolings varchar[] not null,
    fingerprint varchar not null,
    created_at timestamp not null
);
-- key: run_id
-- ref: run_id -> runs(run_id)
-- check: a dictionary run has one layer of n_features units: select count(*) from dictionaries d join runs r
--     using (run_id) where r.hidden_size <> d.n_features or r.n_layers <> 1
-- check: origin is trained or loaded: select count(*) from dictionaries where origin not in ('trained', 'loaded')
comment on table dictionaries is 'One row per dictionary run (runs.run_id, usually <run_id>-sae): the dictionary whose features are its units, on which layer of which run, and where it came from (trained by the dictionary stage, or loaded from a user''s file).';
comment on column dictionaries.run_id is 'The dictionary run: its features are activations.vec of this run_id, layer 0.';
comment on column dictionaries.base_run_id is 'The model''s residual run whose token states the dictionary reads (the neurons it is compared with); the model''s run_id (its residual run may be absent when the model''s only site is sae).';
comment on column dictionaries.layer is 'The layer of the base run that the dictionary reads (layers.layer of base_run_id: 0 the embedding output, l the output of block l-1).';
comment on column dictionaries.site is 'That layer''s hook name, e.g. blocks.5.hook_resid_post; the dictionary run''s one layer is named <site>.hook_sae_acts_post.';
comment on column dictionaries.origin is 'trained (a TopK SAE the stage trained on the build''s own datasets) or loaded (dictionary.path).';
comment on column dictionaries.kind is 'sae-topk, sae-relu, sae-jumprelu (SAELens architectures) or directions (a plain [n_features, d_in] file: the activation is the projection).';
comment on column dictionaries.activation is 'The nonlinearity: topk (keep each token''s k largest, ReLU''d), relu, jumprelu (ReLU above a per-feature threshold) or linear (directions).';
comment on column dictionaries.path is 'Where the dictionary is: the user''s file or folder, or (trained) the SAELens folder the stage saved in the cache, which SAELens and dictionary.path read.';
comment on column dictionaries.source is 'The dictionary''s own description (pipeline.models.dictionary.Dictionary.source).';
comment on column dictionaries.d_in is 'Width of the site it reads (the base run''s hidden_size).';
comment on column dictionaries.n_features is 'Number of features (the dictionary run''s hidden_size).';
comment on column dictionaries.k is 'Features kept per token (topk), else null.';
comment on column dictionaries.seed is 'Training seed (trained), else null.';
comment on column dictionaries.training_tokens is 'Tokens trained on (trained: a seeded sample of sentences, the same token budget from every dataset; 10% more held out), else null.';
comment on column dictionaries.training_steps is 'Optimiser steps (trained), else null.';
comment on column dictionaries.explained_variance_heldout is 'Explained variance on the held-out training tokens (trained), else null; per dataset, on every token: dictionary_quality.';
comment on column dictionaries.poolings is 'The sentence poolings stored: max and/or mean of each feature over the text''s own tokens (special tokens left out).';
comment on column dictionaries.fingerprint is 'Hash of the dictionary''s parameters: equal fingerprints, same features.';
comment on column dictionaries.created_at is 'When the stage loaded or trained it (UTC).';

create table dictionary_density (
    run_id varchar not null,
    dataset varchar not null,
    unit integer not null,
    n_tokens bigint not null,
    n_active bigint not null,
    density double not null
);
-- key: run_id, dataset, unit
-- ref: run_id -> dictionaries(run_id)
-- ref: dataset -> datasets(dataset)
-- check: dictionary_density has n_features units per dataset: select count(*) from (select run_id, dataset,
--     count(*) n from dictionary_density group by all) s join dictionaries d using (run_id) where s.n <> d.n_features
comment on table dictionary_density is 'Per feature of a dictionary run and dataset: on how many of the dataset''s tokens (every own token of every text, truncated at max_length) the feature is nonzero.';
comment on column dictionary_density.run_id is 'The dictionary run (dictionaries.run_id).';
comment on column dictionary_density.dataset is 'The dataset.';
comment on column dictionary_density.unit is 'Feature index, 0-based (activations unit / neuron_topk.unit of the run).';
comment on column dictionary_density.n_tokens is 'Tokens of the dataset (the same for every feature).';
comment on column dictionary_density.n_active is 'Tokens on which the feature''s activation is nonzero.';
comment on column dictionary_density.density is 'n_active / n_tokens: the feature''s firing rate (0: dead on this dataset).';

create table dictionary_quality (
    run_id varchar not null,
    dataset varchar not null,
    n_tokens bigint not null,
    explained_variance double,
    mse double,
    l0 double,
    n_dead integer not null,
    dead_share double not null
);
-- key: run_id, dataset
-- ref: run_id -> dictionaries(run_id)
-- ref: dataset -> datasets(dataset)
comment on table dictionary_quality is 'Per dictionary run and dataset: how well the dictionary reconstructs the site''s token states, over every own token of the dataset''s texts.';
comment on column dictionary_quality.run_id is 'The dictionary run (dictionaries.run_id).';
comment on column dictionary_quality.dataset is 'The dataset.';
comment on column dictionary_quality.n_tokens is 'Tokens of the dataset.';
comment on column dictionary_quality.explained_variance is '1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over the dataset''s tokens (x_hat: decode(encode(x)), mean: the dataset''s own mean token).';
comment on column dictionary_quality.mse is 'Mean over tokens of ||x - x_hat||^2.';
comment on column dictionary_quality.l0 is 'Mean number of nonzero features per token (at most k for topk).';
comment on column dictionary_quality.n_dead is 'Features that are zero on every token of the dataset.';
comment on column dictionary_quality.dead_share is 'n_dead / n_features.';
