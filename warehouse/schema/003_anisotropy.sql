-- Anisotropy (Ethayarajh 2019, "How contextual are contextualized word representations?"), written by
-- pipeline/stages/anisotropy.py; definitions in analysis/anisotropy.py. The word vectors themselves are not
-- stored: these tables hold the metrics per word, per sentence and per layer, and where every context is.
-- A dataset value of '(pooled)' means all datasets of the build taken as one corpus.

create table anisotropy_layers (
    run_id varchar not null,
    layer integer not null,
    dataset varchar not null,
    n_words integer not null,
    n_sentences integer not null,
    n_baseline integer not null,
    self_sim double,
    intra_sim double,
    baseline double,
    mev double,
    mev_random double,
    self_sim_adj double,
    intra_sim_adj double,
    mev_adj double
);
-- key: run_id, layer, dataset
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: (select * from anisotropy_layers where dataset <> '(pooled)')(dataset) -> datasets(dataset)
comment on table anisotropy_layers is 'Per run, layer and dataset (or ''(pooled)''): the averaged anisotropy metrics and their anisotropy-adjusted versions.';
comment on column anisotropy_layers.run_id is 'The run.';
comment on column anisotropy_layers.layer is 'Layer index (layers.layer; 0 is the embedding output for transformers).';
comment on column anisotropy_layers.dataset is 'The dataset, or ''(pooled)'' for every dataset as one corpus.';
comment on column anisotropy_layers.n_words is 'Sampled words with enough contexts (the rows of anisotropy_words averaged here).';
comment on column anisotropy_layers.n_sentences is 'Sentences with at least 2 words whose intra-sentence similarity is averaged (the sentences the stage ran).';
comment on column anisotropy_layers.n_baseline is 'Random word vectors (one per sentence) behind the baseline and the random MEV.';
comment on column anisotropy_layers.self_sim is 'Mean over words of self-similarity: the mean pairwise cosine of a word''s vectors across its contexts.';
comment on column anisotropy_layers.intra_sim is 'Mean over sentences of intra-sentence similarity: the mean cosine of each word vector to the mean word vector of its sentence.';
comment on column anisotropy_layers.baseline is 'Anisotropy baseline: the mean cosine over all pairs of n_baseline random word vectors from different sentences.';
comment on column anisotropy_layers.mev is 'Mean over words of the maximum explainable variance: the first principal component''s share of the variance of the word''s centred context matrix.';
comment on column anisotropy_layers.mev_random is 'Mean over words of the MEV of random word-vector sets of the word''s size (anisotropy_words.mev_random).';
comment on column anisotropy_layers.self_sim_adj is 'self_sim - baseline.';
comment on column anisotropy_layers.intra_sim_adj is 'intra_sim - baseline.';
comment on column anisotropy_layers.mev_adj is 'mev - mev_random.';

create table anisotropy_words (
    run_id varchar not null,
    layer integer not null,
    dataset varchar not null,
    word varchar not null,
    n_contexts integer not null,
    self_sim double not null,
    self_sim_adj double,
    mev double,
    mev_random double,
    mev_adj double
);
-- key: run_id, layer, dataset, word
-- ref: run_id, layer, dataset -> anisotropy_layers(run_id, layer, dataset)
comment on table anisotropy_words is 'Per run, layer, dataset (or ''(pooled)'') and sampled word type: how much its vectors change across its contexts.';
comment on column anisotropy_words.run_id is 'The run.';
comment on column anisotropy_words.layer is 'Layer index.';
comment on column anisotropy_words.dataset is 'The dataset the contexts come from, or ''(pooled)''.';
comment on column anisotropy_words.word is 'The word type: a run of letters (inner apostrophes allowed), lower-cased.';
comment on column anisotropy_words.n_contexts is 'Contexts (distinct sentences) behind the metrics: the sampled ones the model saw (not cut off by truncation).';
comment on column anisotropy_words.self_sim is 'Self-similarity: mean cosine over the pairs of the word''s vectors (a vector = mean of the units inside the word: WordPieces or characters).';
comment on column anisotropy_words.self_sim_adj is 'self_sim minus the layer''s baseline (anisotropy_layers.baseline) for the same dataset.';
comment on column anisotropy_words.mev is 'Maximum explainable variance: first principal component''s share of the variance of the centred [n_contexts, hidden] matrix (null if all vectors are equal).';
comment on column anisotropy_words.mev_random is 'Mean MEV of random sets of n_contexts random word vectors of the same layer and dataset (the chance level for this size).';
comment on column anisotropy_words.mev_adj is 'mev - mev_random.';

create table anisotropy_contexts (
    run_id varchar not null,
    sample varchar not null,
    dataset varchar not null,
    word varchar not null,
    sentence_id integer not null,
    char_start integer not null,
    char_end integer not null,
    n_units integer not null,
    used boolean not null
);
-- key: run_id, sample, word, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id -> runs(run_id)
-- ref: (select * from anisotropy_contexts where used)(run_id, sample, word) -> (select distinct run_id, dataset,
--     word from anisotropy_words)(run_id, dataset, word)
comment on table anisotropy_contexts is 'The sampled contexts of every sampled word: one row per run, sample (a dataset or ''(pooled)''), word and sentence.';
comment on column anisotropy_contexts.run_id is 'The run.';
comment on column anisotropy_contexts.sample is 'Which sample the context belongs to: a dataset''s own (its name) or the pooled one (''(pooled)''); anisotropy_words.dataset.';
comment on column anisotropy_contexts.dataset is 'The dataset of the sentence (sentences.dataset).';
comment on column anisotropy_contexts.word is 'The word type.';
comment on column anisotropy_contexts.sentence_id is 'The sentence (sentences.sentence_id).';
comment on column anisotropy_contexts.char_start is 'Start of the word''s first occurrence in sentences.text (0-based character offset).';
comment on column anisotropy_contexts.char_end is 'End of that occurrence (exclusive).';
comment on column anisotropy_contexts.n_units is 'Units of the run averaged into the word vector (WordPieces or characters inside the span); 0 if cut off by truncation.';
comment on column anisotropy_contexts.used is 'True when this context is in the word''s metrics (it has a vector and the word kept enough contexts).';

create table anisotropy_sentences (
    run_id varchar not null,
    layer integer not null,
    dataset varchar not null,
    sentence_id integer not null,
    n_words integer not null,
    intra_sim double not null
);
-- key: run_id, layer, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
comment on table anisotropy_sentences is 'Intra-sentence similarity of every sentence the stage ran (contexts of the sampled words), per run and layer.';
comment on column anisotropy_sentences.run_id is 'The run.';
comment on column anisotropy_sentences.layer is 'Layer index.';
comment on column anisotropy_sentences.dataset is 'The dataset.';
comment on column anisotropy_sentences.sentence_id is 'The sentence.';
comment on column anisotropy_sentences.n_words is 'Words of the sentence with a vector (at least 2).';
comment on column anisotropy_sentences.intra_sim is 'Mean cosine of each word vector to the sentence''s mean word vector.';
