-- Sentiment neuron (Radford et al. 2017 and the ablation study of its "sentiment neuron"): logistic
-- regression on a run's sentence vectors for every sentiment-labelled dataset; the unit with the largest
-- |weight| (the SN) deleted, alone, every unit left out and alone, cumulative ablation, random subsets,
-- final vs mean vs concat pooling and a trailing-word adversarial attack. Written by
-- pipeline/stages/sentiment.py; see the Sentiment neuron page for the protocol.

create table sentiment_datasets (
    run_id varchar not null,
    dataset varchar not null,
    status varchar not null,
    reason varchar,
    label_kind varchar not null,
    rule varchar not null,
    n_labelled integer not null,
    n_positive integer not null,
    n_negative integer not null,
    n_dropped integer not null,
    n_train integer not null,
    n_dev integer not null,
    n_test integer not null,
    n_long_test integer not null,
    n_cut_for_suffix integer not null
);
-- key: run_id, dataset
-- ref: run_id -> runs(run_id)
-- ref: dataset -> datasets(dataset)
comment on table sentiment_datasets is 'Each dataset the sentiment stage considered for a run: whether it ran, how its labels were made binary and how it was split.';
comment on column sentiment_datasets.run_id is 'The run (runs.run_id).';
comment on column sentiment_datasets.dataset is 'The dataset (datasets.dataset).';
comment on column sentiment_datasets.status is 'done, or skipped (then reason says why and no other sentiment table has rows for it).';
comment on column sentiment_datasets.reason is 'Why a dataset was skipped (too few labelled rows, one class only), else null.';
comment on column sentiment_datasets.label_kind is 'binary or score (datasets.label_kind).';
comment on column sentiment_datasets.rule is 'How labels became positive/negative, e.g. ''score >= 0.5 positive, score <= -0.5 negative, otherwise dropped''.';
comment on column sentiment_datasets.n_labelled is 'Rows with a positive or negative label after the rule.';
comment on column sentiment_datasets.n_positive is 'Positive rows.';
comment on column sentiment_datasets.n_negative is 'Negative rows.';
comment on column sentiment_datasets.n_dropped is 'Rows without a usable label (missing, or near-neutral score).';
comment on column sentiment_datasets.n_train is 'Rows in the seeded 70% training split.';
comment on column sentiment_datasets.n_dev is 'Rows in the 10% development split (C is chosen on it).';
comment on column sentiment_datasets.n_test is 'Rows in the 20% test split (every accuracy is on it).';
comment on column sentiment_datasets.n_long_test is 'Test texts longer than the long_chars setting: they also get the suffix repeated (long_repeats times).';
comment on column sentiment_datasets.n_cut_for_suffix is 'Adversarial test texts shortened at the end so that the appended words fit in the model''s max_length (otherwise the model would never read them).';

create table sentiment_features (
    run_id varchar not null,
    feature varchar not null,
    layers integer[] not null,
    layer_names varchar[] not null,
    poolings varchar[] not null,
    n_units integer not null,
    suite boolean not null
);
-- key: run_id, feature
-- ref: run_id -> runs(run_id)
-- ref: (select run_id, unnest(layers) as layer from sentiment_features)(run_id, layer) -> layers(run_id, layer)
comment on table sentiment_features is 'The feature sets of a run: stored sentence vectors (activations) of some layers and poolings, concatenated. Unit u of a feature set is block u // hidden_size of (pooling, layer) in poolings-major order, neuron u % hidden_size.';
comment on column sentiment_features.run_id is 'The run.';
comment on column sentiment_features.feature is 'Name: a stored pooling (final, mean for LSTMs; last, mean for decoders; cls, mean for transformers), concat (those side by side), or min, max, abs: pooled by the stage over the text''s own units (not stored in activations; abs = the state of largest magnitude, its sign kept).';
comment on column sentiment_features.layers is 'Layer ids (layers.layer) concatenated, in order.';
comment on column sentiment_features.layer_names is 'Their names, e.g. lstm1.cell, lstm2.cell or blocks.5.hook_resid_post.';
comment on column sentiment_features.poolings is 'Poolings concatenated, in order (outer loop; layers are the inner loop).';
comment on column sentiment_features.n_units is 'Units (features) of the set: len(layers) x len(poolings) x hidden_size.';
comment on column sentiment_features.suite is 'True when the full suite (single-unit ablations and classifiers, cumulative ablation, random subsets) ran on it; otherwise only the all-units classifier.';

create table sentiment_classifiers (
    run_id varchar not null,
    dataset varchar not null,
    feature varchar not null,
    penalty varchar not null,
    model varchar not null,
    n_units integer not null,
    c double not null,
    n_nonzero integer not null,
    dev_accuracy double not null,
    test_accuracy double not null,
    sn_unit integer not null
);
-- key: run_id, dataset, feature, penalty, model
-- ref: run_id, feature -> sentiment_features(run_id, feature)
-- ref: (select * from sentiment_classifiers where model <> 'all')(run_id, dataset, feature, penalty) -> (select *
--     from sentiment_classifiers where model = 'all')(run_id, dataset, feature, penalty)
-- ref: run_id, dataset -> (select * from sentiment_datasets where status = 'done')(run_id, dataset)
comment on table sentiment_classifiers is 'Logistic regressions on standardised features (train mean/std), C chosen on dev from the c_grid setting: all units (every feature set), SN deleted and SN only (suite feature sets). Table 1 and Table 2 of the study.';
comment on column sentiment_classifiers.run_id is 'The run.';
comment on column sentiment_classifiers.dataset is 'The dataset.';
comment on column sentiment_classifiers.feature is 'The feature set (sentiment_features.feature).';
comment on column sentiment_classifiers.penalty is 'l1 (as the original study) or l2.';
comment on column sentiment_classifiers.model is 'all (every unit), sn_deleted (every unit but the SN), sn_only (the SN alone), hindrance_removed (every unit but the "hindrance" units, those whose single ablation beats all units on test, removed at once; absent when there are none).';
comment on column sentiment_classifiers.n_units is 'Units the classifier may use.';
comment on column sentiment_classifiers.c is 'Inverse regularisation strength chosen on dev (sklearn''s C; objective C * sum(log-loss) + penalty, intercept unpenalised).';
comment on column sentiment_classifiers.n_nonzero is 'Units with a non-zero weight (L1 zeroes many).';
comment on column sentiment_classifiers.dev_accuracy is 'Accuracy on the dev split.';
comment on column sentiment_classifiers.test_accuracy is 'Accuracy on the test split.';
comment on column sentiment_classifiers.sn_unit is 'The sentiment neuron of this (dataset, feature, penalty): the unit with the largest |weight| in the all-units classifier.';

create table sentiment_units (
    run_id varchar not null,
    dataset varchar not null,
    feature varchar not null,
    penalty varchar not null,
    unit integer not null,
    layer integer not null,
    pooling varchar not null,
    neuron integer not null,
    weight double not null,
    weight_rank integer not null,
    single_c double,
    single_dev_accuracy double,
    single_accuracy double,
    ablation_accuracy double,
    cumulative_accuracy double,
    ablation_c double,
    subset_c double
);
-- key: run_id, dataset, feature, penalty, unit
-- ref: run_id, dataset, feature, penalty -> sentiment_classifiers(run_id, dataset, feature, penalty)
-- ref: run_id, layer -> layers(run_id, layer)
comment on table sentiment_units is 'One row per unit of a feature set: its weight in the all-units classifier (Figs. 1 and 6) and, for suite feature sets, the unit alone (Fig. 3), the unit left out (Fig. 2) and the cumulative ablation (Fig. 4).';
comment on column sentiment_units.run_id is 'The run.';
comment on column sentiment_units.dataset is 'The dataset.';
comment on column sentiment_units.feature is 'The feature set.';
comment on column sentiment_units.penalty is 'l1 or l2.';
comment on column sentiment_units.unit is 'Unit index within the feature set, 0-based.';
comment on column sentiment_units.layer is 'The layer it comes from (layers.layer).';
comment on column sentiment_units.pooling is 'The pooling it comes from (activations.pooling).';
comment on column sentiment_units.neuron is 'Its index in that layer''s vector (activations.vec[neuron + 1], neuron_topk.unit).';
comment on column sentiment_units.weight is 'Its weight in the all-units classifier (standardised features: comparable across units). The largest |weight| is the SN; its sign is the SN''s polarity (positive: higher activation means positive sentiment).';
comment on column sentiment_units.weight_rank is 'Rank by |weight|, 0 = the SN.';
comment on column sentiment_units.single_c is 'C of the classifier on this unit alone (its own dev choice); null when the suite did not run.';
comment on column sentiment_units.single_dev_accuracy is 'Dev accuracy of the unit alone.';
comment on column sentiment_units.single_accuracy is 'Test accuracy of the unit alone (Fig. 3).';
comment on column sentiment_units.ablation_accuracy is 'Test accuracy of a classifier on every unit but this one, at ablation_c (Fig. 2).';
comment on column sentiment_units.cumulative_accuracy is 'Test accuracy after removing this unit and every unit of lower weight_rank (Fig. 4), at ablation_c; null for the last unit (nothing would be left).';
comment on column sentiment_units.ablation_c is 'C used for the single-unit and cumulative ablations: the all-units classifier''s dev choice.';
comment on column sentiment_units.subset_c is 'C used for every random subset: the grid value with the best mean dev accuracy over the first 50 subsets.';

create table sentiment_subsets (
    run_id varchar not null,
    dataset varchar not null,
    feature varchar not null,
    penalty varchar not null,
    subset integer not null,
    units integer[] not null,
    has_sn boolean not null,
    dev_accuracy double not null,
    test_accuracy double not null
);
-- key: run_id, dataset, feature, penalty, subset
-- ref: run_id, dataset, feature, penalty -> sentiment_classifiers(run_id, dataset, feature, penalty)
comment on table sentiment_subsets is 'Classifiers on random unit subsets (Fig. 5): n_subsets seeded draws of subset_size units (at most half the units) per suite feature set.';
comment on column sentiment_subsets.run_id is 'The run.';
comment on column sentiment_subsets.dataset is 'The dataset.';
comment on column sentiment_subsets.feature is 'The feature set.';
comment on column sentiment_subsets.penalty is 'l1 or l2.';
comment on column sentiment_subsets.subset is 'Draw number, 0-based.';
comment on column sentiment_subsets.units is 'The units drawn (sentiment_units.unit), ascending.';
comment on column sentiment_subsets.has_sn is 'Whether the SN is among them.';
comment on column sentiment_subsets.dev_accuracy is 'Dev accuracy.';
comment on column sentiment_subsets.test_accuracy is 'Test accuracy.';

create table sentiment_labels (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    y integer not null,
    split varchar not null,
    is_long boolean not null
);
-- key: run_id, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, dataset -> (select * from sentiment_datasets where status = 'done')(run_id, dataset)
comment on table sentiment_labels is 'The binary label and split of every labelled sentence used by the sentiment stage.';
comment on column sentiment_labels.run_id is 'The run.';
comment on column sentiment_labels.dataset is 'The dataset.';
comment on column sentiment_labels.sentence_id is 'The sentence (sentences.sentence_id).';
comment on column sentiment_labels.y is '1 positive, 0 negative (see sentiment_datasets.rule).';
comment on column sentiment_labels.split is 'train, dev or test (a seeded shuffle from the build seed and the dataset name: the same for every run).';
comment on column sentiment_labels.is_long is 'Text longer than the long_chars setting.';

create table sentiment_predictions (
    run_id varchar not null,
    dataset varchar not null,
    feature varchar not null,
    penalty varchar not null,
    attack varchar not null,
    sentence_id integer not null,
    p_positive float not null
);
-- key: run_id, dataset, feature, penalty, attack, sentence_id
-- ref: run_id, dataset, sentence_id -> (select * from sentiment_labels where split = 'test')(run_id, dataset,
--     sentence_id)
-- ref: run_id, dataset, feature, penalty -> sentiment_classifiers(run_id, dataset, feature, penalty)
comment on table sentiment_predictions is 'The all-units classifier''s P(positive) for each test sentence, clean and under the trailing-word attack (Table 3; the misclassification overlap). Correct means (p_positive > 0.5) = y.';
comment on column sentiment_predictions.run_id is 'The run.';
comment on column sentiment_predictions.dataset is 'The dataset.';
comment on column sentiment_predictions.feature is 'The feature set.';
comment on column sentiment_predictions.penalty is 'l1 or l2.';
comment on column sentiment_predictions.attack is 'none (the stored vectors), or <word>_<times>: the text re-encoded with " Wonderful" or " Terrible" appended once (every test text) or long_repeats times (long texts only), e.g. wonderful_1, terrible_10.';
comment on column sentiment_predictions.sentence_id is 'The test sentence.';
comment on column sentiment_predictions.p_positive is 'The classifier''s probability of positive sentiment.';
