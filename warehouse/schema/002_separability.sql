-- Schema version 2: dataset separability per layer (Bolukbasi et al. 2021, Hypothesis 1).

create table separability (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    accuracy double not null,
    chance double not null,
    n_train integer not null,
    n_test integer not null,
    per_dataset integer not null
);
-- key: run_id, layer, pooling
-- ref: run_id, layer -> layers(run_id, layer)
comment on table separability is 'How well a linear SVM tells the datasets apart from the sentence vectors of each layer and pooling: held-out accuracy on a seeded stratified 80/20 split of at most per_dataset sentences per dataset.';
comment on column separability.run_id is 'The run.';
comment on column separability.layer is 'Layer index.';
comment on column separability.pooling is 'Pooling.';
comment on column separability.accuracy is 'Held-out accuracy of the linear SVM (standardised features, C = 1).';
comment on column separability.chance is 'Accuracy of always predicting the most frequent dataset of the test split.';
comment on column separability.n_train is 'Training sentences.';
comment on column separability.n_test is 'Held-out sentences.';
comment on column separability.per_dataset is 'Cap on sentences sampled per dataset (seeded).';

create table separability_confusion (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    true_dataset varchar not null,
    predicted_dataset varchar not null,
    n integer not null
);
-- key: run_id, layer, pooling, true_dataset, predicted_dataset
comment on table separability_confusion is 'Confusion matrix of the held-out split for each (run, layer, pooling).';
comment on column separability_confusion.run_id is 'The run.';
comment on column separability_confusion.layer is 'Layer index.';
comment on column separability_confusion.pooling is 'Pooling.';
comment on column separability_confusion.true_dataset is 'The dataset a held-out sentence comes from.';
comment on column separability_confusion.predicted_dataset is 'The dataset the SVM assigned it to.';
comment on column separability_confusion.n is 'Number of held-out sentences with that (true, predicted) pair.';

create table umap_coords (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    x float not null,
    y float not null
);
-- key: run_id, layer, pooling, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
comment on table umap_coords is '2-D UMAP of the sentence vectors of the last layer of each run and pooling, on a seeded sample of at most umap_per_dataset sentences per dataset (see meta config_json).';
comment on column umap_coords.run_id is 'The run.';
comment on column umap_coords.layer is 'Layer index (the run''s last layer).';
comment on column umap_coords.pooling is 'Pooling.';
comment on column umap_coords.dataset is 'The dataset.';
comment on column umap_coords.sentence_id is 'The sentence.';
comment on column umap_coords.x is 'First UMAP coordinate (cosine metric, 15 neighbours, min_dist 0.1, seeded).';
comment on column umap_coords.y is 'Second UMAP coordinate.';
