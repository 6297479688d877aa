-- Attention clusters (the STS-B attention study), written by pipeline/stages/attention.py; definitions in
-- analysis/attention.py. Transformer runs only. A layer here is layers.layer l: the attention of the block whose
-- output is layer l (1 = the first block). feature_set is 'summary' (per-head summary features reduced to 2-D)
-- or 'autoencoder' (the study's LSTM autoencoder on the flattened attention).

create table attention_items (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    split varchar,
    is_pair boolean not null,
    n_tokens integer not null,
    score double,
    structure double
);
-- key: run_id, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id -> (select * from runs where model_kind = 'transformer')(run_id)
comment on table attention_items is 'Per run, dataset and analysed item (a pair or a sentence): its covariates.';
comment on column attention_items.run_id is 'The run (a transformer).';
comment on column attention_items.dataset is 'The dataset.';
comment on column attention_items.sentence_id is 'The item (sentences.sentence_id); a dataset with a test split contributes its test rows only, sampled to attention.per_dataset.';
comment on column attention_items.split is 'The item''s split (sentences.split).';
comment on column attention_items.is_pair is 'True when encoded as a pair, [CLS] a [SEP] b [SEP] (the dataset has a second text); false: [CLS] a [SEP].';
comment on column attention_items.n_tokens is 'WordPiece length of the encoded item including special tokens, after truncation to the run''s max_length (the length covariate).';
comment on column attention_items.score is 'The gold score covariate: the numeric label for score or binary labels (STS-B: similarity 0-5), else NULL.';
comment on column attention_items.structure is 'The structure covariate: cosine similarity of the item''s dependency-label count vector (spaCy; sentence a then b) to that of the most frequent structure (attention_layers.top_structure); NULL without spaCy.';

create table attention_points (
    run_id varchar not null,
    dataset varchar not null,
    layer integer not null,
    sentence_id integer not null,
    features float[] not null,
    sx float not null,
    sy float not null,
    ax float,
    ay float,
    cluster_summary integer not null,
    cluster_autoencoder integer
);
-- key: run_id, dataset, layer, sentence_id
-- ref: run_id, dataset, sentence_id -> attention_items(run_id, dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: run_id, dataset, layer -> attention_layers(run_id, dataset, layer)
-- check: attention_points.features has 7 values per head: select count(*) from attention_points a join runs r
--     using (run_id) where len(a.features) <> 7 * r.n_heads
comment on table attention_points is 'Per run, dataset, layer and item: the attention summary features, both 2-D reductions and the stored default clusters.';
comment on column attention_points.run_id is 'The run.';
comment on column attention_points.dataset is 'The dataset.';
comment on column attention_points.layer is 'Layer index (layers.layer): the attention of the block producing layer l.';
comment on column attention_points.sentence_id is 'The item (attention_items.sentence_id).';
comment on column attention_points.features is 'Summary features, head-major: for head h, [entropy, to_cls, to_sep, self, prev, next, distance] at positions 7h..7h+6, each averaged over query positions.';
comment on column attention_points.sx is 'First coordinate of the summary features reduced to 2-D (standardised, PCA; UMAP with attention.reducer = umap).';
comment on column attention_points.sy is 'Second coordinate of the summary-feature reduction.';
comment on column attention_points.ax is 'First coordinate of the LSTM autoencoder''s 2-D code (NULL when attention.ae_epochs = 0).';
comment on column attention_points.ay is 'Second coordinate of the autoencoder code.';
comment on column attention_points.cluster_summary is 'Cluster of (sx, sy) under the layer''s consensus choice (attention_layers, feature_set summary); -1 = DBSCAN noise.';
comment on column attention_points.cluster_autoencoder is 'Cluster of (ax, ay) under the layer''s consensus choice for the autoencoder; -1 = DBSCAN noise.';

create table attention_layers (
    run_id varchar not null,
    dataset varchar not null,
    layer integer not null,
    feature_set varchar not null,
    n_items integer not null,
    ae_loss double,
    ae_epochs integer,
    explained double,
    algorithm varchar,
    params varchar,
    k integer,
    n_clusters integer,
    silhouette double,
    davies_bouldin double,
    calinski_harabasz double,
    top_structure varchar
);
-- key: run_id, dataset, layer, feature_set
-- ref: run_id, dataset, layer -> attention_points(run_id, dataset, layer)
-- ref: (select * from attention_layers where algorithm is not null)(run_id, dataset, layer, feature_set) ->
--     (select * from attention_quality where chosen)(run_id, dataset, layer, feature_set)
comment on table attention_layers is 'Per run, dataset, layer and feature set: the reduction and the clustering chosen by metric consensus.';
comment on column attention_layers.run_id is 'The run.';
comment on column attention_layers.dataset is 'The dataset.';
comment on column attention_layers.layer is 'Layer index (layers.layer).';
comment on column attention_layers.feature_set is 'summary (per-head summary features in 2-D) or autoencoder (the LSTM autoencoder code).';
comment on column attention_layers.n_items is 'Items clustered.';
comment on column attention_layers.ae_loss is 'Autoencoder: mean MSE of the last training epoch (inputs standardised per head); NULL for summary.';
comment on column attention_layers.ae_epochs is 'Autoencoder training epochs; NULL for summary.';
comment on column attention_layers.explained is 'Summary with PCA: the explained variance ratio of the 2 components; NULL otherwise.';
comment on column attention_layers.algorithm is 'The chosen clustering: kmeans, agglomerative, gmm, dbscan or spectral (lowest attention_quality.rank).';
comment on column attention_layers.params is 'Its options (linkage and metric, covariance, eps and min_samples), '''' when none.';
comment on column attention_layers.k is 'Its requested number of clusters (0 for DBSCAN).';
comment on column attention_layers.n_clusters is 'Clusters found (DBSCAN noise not counted).';
comment on column attention_layers.silhouette is 'sklearn silhouette score of the chosen clustering (standardised 2-D points; higher is better).';
comment on column attention_layers.davies_bouldin is 'sklearn Davies-Bouldin index (lower is better).';
comment on column attention_layers.calinski_harabasz is 'sklearn Calinski-Harabasz index (higher is better).';
comment on column attention_layers.top_structure is 'Summary rows: the most frequent structure (dependency labels of sentence a '' | '' sentence b) that attention_items.structure compares with.';

create table attention_quality (
    run_id varchar not null,
    dataset varchar not null,
    layer integer not null,
    feature_set varchar not null,
    algorithm varchar not null,
    params varchar not null,
    k integer not null,
    n_points integer not null,
    n_clusters integer not null,
    n_noise integer not null,
    silhouette double,
    davies_bouldin double,
    calinski_harabasz double,
    rank double,
    chosen boolean not null
);
-- key: run_id, dataset, layer, feature_set, algorithm, params, k
-- ref: run_id, dataset, layer, feature_set -> attention_layers(run_id, dataset, layer, feature_set)
-- check: attention_quality has one chosen row per layer and feature set at most: select count(*) from (select
--     run_id, dataset, layer, feature_set from attention_quality where chosen group by all having count(*) > 1)
comment on table attention_quality is 'Per run, dataset, layer and feature set: every clustering scored (algorithm x k x options; the study''s Table 4).';
comment on column attention_quality.run_id is 'The run.';
comment on column attention_quality.dataset is 'The dataset.';
comment on column attention_quality.layer is 'Layer index (layers.layer).';
comment on column attention_quality.feature_set is 'summary or autoencoder.';
comment on column attention_quality.algorithm is 'kmeans, agglomerative, gmm, dbscan or spectral (sklearn).';
comment on column attention_quality.params is 'The options (see attention_layers.params).';
comment on column attention_quality.k is 'Requested number of clusters (0 for DBSCAN).';
comment on column attention_quality.n_points is 'Points clustered.';
comment on column attention_quality.n_clusters is 'Clusters found (DBSCAN noise not counted).';
comment on column attention_quality.n_noise is 'DBSCAN noise points (left out of the metrics); 0 for the others.';
comment on column attention_quality.silhouette is 'sklearn silhouette score (higher is better); NULL with fewer than 2 clusters.';
comment on column attention_quality.davies_bouldin is 'sklearn Davies-Bouldin index (lower is better).';
comment on column attention_quality.calinski_harabasz is 'sklearn Calinski-Harabasz index (higher is better).';
comment on column attention_quality.rank is 'Metric consensus: the mean of the row''s ranks under the three metrics among the layer''s rows (lower is better); NULL when a metric is missing or DBSCAN left over half the points as noise.';
comment on column attention_quality.chosen is 'True for the layer''s lowest rank: the stored default clustering.';

create table attention_tests (
    run_id varchar not null,
    dataset varchar not null,
    layer integer not null,
    feature_set varchar not null,
    covariate varchar not null,
    n integer not null,
    n_clusters integer not null,
    kw_h double,
    kw_p double,
    eta2 double,
    mw_pairs integer not null,
    mw_significant integer not null,
    mw_min_p double,
    mw_max_p double
);
-- key: run_id, dataset, layer, feature_set, covariate
-- ref: run_id, dataset, layer, feature_set -> attention_layers(run_id, dataset, layer, feature_set)
comment on table attention_tests is 'Per run, dataset, layer, feature set and covariate: Kruskal-Wallis across the default clusters and the pairwise Mann-Whitney U summary (the study''s Table 5).';
comment on column attention_tests.run_id is 'The run.';
comment on column attention_tests.dataset is 'The dataset.';
comment on column attention_tests.layer is 'Layer index (layers.layer).';
comment on column attention_tests.feature_set is 'summary or autoencoder (whose default clusters are tested).';
comment on column attention_tests.covariate is 'score (gold score), length (WordPiece length) or structure (structure similarity).';
comment on column attention_tests.n is 'Items tested (non-NULL covariate, not DBSCAN noise, in clusters of at least 2).';
comment on column attention_tests.n_clusters is 'Clusters compared.';
comment on column attention_tests.kw_h is 'Kruskal-Wallis H (scipy.stats.kruskal); NULL when fewer than 2 clusters or a constant covariate.';
comment on column attention_tests.kw_p is 'Kruskal-Wallis p-value.';
comment on column attention_tests.eta2 is 'Kruskal-Wallis effect size eta² = (H - k + 1) / (n - k).';
comment on column attention_tests.mw_pairs is 'Cluster pairs compared with two-sided Mann-Whitney U (scipy.stats.mannwhitneyu).';
comment on column attention_tests.mw_significant is 'Pairs with Holm-adjusted p < 0.05.';
comment on column attention_tests.mw_min_p is 'Smallest Holm-adjusted pairwise p-value.';
comment on column attention_tests.mw_max_p is 'Largest Holm-adjusted pairwise p-value.';

create table attention_pairs (
    run_id varchar not null,
    dataset varchar not null,
    layer integer not null,
    feature_set varchar not null,
    covariate varchar not null,
    cluster_a integer not null,
    cluster_b integer not null,
    n_a integer not null,
    n_b integer not null,
    u double not null,
    p double not null,
    p_holm double not null
);
-- key: run_id, dataset, layer, feature_set, covariate, cluster_a, cluster_b
-- ref: run_id, dataset, layer, feature_set, covariate -> attention_tests(run_id, dataset, layer, feature_set,
--     covariate)
comment on table attention_pairs is 'The pairwise Mann-Whitney U tests behind attention_tests.';
comment on column attention_pairs.run_id is 'The run.';
comment on column attention_pairs.dataset is 'The dataset.';
comment on column attention_pairs.layer is 'Layer index (layers.layer).';
comment on column attention_pairs.feature_set is 'summary or autoencoder.';
comment on column attention_pairs.covariate is 'score, length or structure.';
comment on column attention_pairs.cluster_a is 'The first cluster (cluster_a < cluster_b).';
comment on column attention_pairs.cluster_b is 'The second cluster.';
comment on column attention_pairs.n_a is 'Items of cluster_a with the covariate.';
comment on column attention_pairs.n_b is 'Items of cluster_b with the covariate.';
comment on column attention_pairs.u is 'Mann-Whitney U statistic of cluster_a.';
comment on column attention_pairs.p is 'Two-sided p-value.';
comment on column attention_pairs.p_holm is 'Holm-adjusted p-value over the layer''s pairs for this covariate.';

create table attention_heads (
    run_id varchar not null,
    dataset varchar not null,
    head varchar not null,
    mode varchar not null,
    layer integer not null,
    n_train integer not null,
    n_test integer not null,
    pearson double,
    spearman double,
    mse double,
    seconds double,
    encode_seconds double
);
-- key: run_id, dataset, head, mode
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: dataset -> datasets(dataset)
comment on table attention_heads is 'Per run, pair dataset with scores and head: predicting the gold score from the encoder (the study''s Table 3).';
comment on column attention_heads.run_id is 'The run.';
comment on column attention_heads.dataset is 'The pair dataset (trained on its train split, scored on its test split).';
comment on column attention_heads.head is 'cls, mean or max (the pooled last layer into a linear regressor) or bilstm (a BiLSTM over the last layer''s token states, its final states into a linear regressor).';
comment on column attention_heads.mode is 'frozen: the encoder is not trained, only the head; finetune: the encoder is trained with the head (attention.heads_finetune_epochs).';
comment on column attention_heads.layer is 'The encoder layer the heads read (layers.layer; the last).';
comment on column attention_heads.n_train is 'Train pairs (attention.heads_train, 0 = all).';
comment on column attention_heads.n_test is 'Test pairs (the whole test split).';
comment on column attention_heads.pearson is 'Pearson r of prediction and gold score on test.';
comment on column attention_heads.spearman is 'Spearman rho on test.';
comment on column attention_heads.mse is 'Mean squared error on test.';
comment on column attention_heads.seconds is 'Wall-clock seconds to train and apply the head (frozen: on features already encoded; finetune: encoder and head).';
comment on column attention_heads.encode_seconds is 'Frozen: seconds to encode the train and test pairs once (shared by the four heads); NULL for finetune.';
