-- Illusion Lab warehouse: the core tables (since schema version 1; the current version is in warehouse/__init__.py).
-- One DuckDB file: pipeline -> this file -> queries -> pages. Every table and column carries a comment,
-- readable with `select table_name, comment from duckdb_tables()` and `... from duckdb_columns()`.
-- The `-- key:`, `-- ref:` and `-- check:` lines under each table are its contracts (read by
-- warehouse/contracts.py): checked by the build's contract step, not by DuckDB constraints, so bulk loads
-- stay fast; a file that fails a contract never replaces the live warehouse.

create table meta (
    key varchar not null,
    value varchar
);
-- key: key
comment on table meta is 'Facts about this file: schema_version, built_at, code_version, config_json, config_hash, manifest_hash, duckdb_version (the run manifest), build_status (complete, or partial: k of n steps while a progressive build publishes its finished steps).';
comment on column meta.key is 'Name of the fact, unique.';
comment on column meta.value is 'Its value, as text (JSON for config_json).';

create table runs (
    run_id varchar not null,
    model_kind varchar not null,
    model_name varchar not null,
    model_path varchar not null,
    n_layers integer not null,
    hidden_size integer not null,
    n_heads integer,
    max_length integer not null,
    poolings varchar[] not null,
    spec_json varchar not null,
    spec_hash varchar not null,
    code_version varchar not null,
    built_at timestamp not null
);
-- key: run_id
comment on table runs is 'One row per model run: the model and how it was run.';
comment on column runs.run_id is 'Short name of the run, chosen in the config (e.g. minilm, textgenrnn); a decoder with both sites gives two runs: <run_id> (residual stream) and <run_id>-mlp (MLP neurons).';
comment on column runs.model_kind is 'transformer (a Hugging Face encoder), decoder (a Hugging Face causal LM: GPT-2, Pythia, Llama, ...; layers.name tells its residual run from its MLP run) or lstm (the textgenrnn char LSTM port).';
comment on column runs.model_name is 'The model''s name, e.g. sentence-transformers/all-MiniLM-L6-v2.';
comment on column runs.model_path is 'What the config asked for: a hub id, a local folder or packaged:<name>.';
comment on column runs.n_layers is 'Number of stored layers (transformers and a decoder''s residual run: the embedding output plus every block; a decoder''s MLP run: one per block).';
comment on column runs.hidden_size is 'Width of each stored vector (units per layer): d_model, or d_mlp for a decoder''s MLP run.';
comment on column runs.n_heads is 'Attention heads per layer (transformers), else null.';
comment on column runs.max_length is 'Longest input the model saw, in its own units (tokens incl. special tokens such as [CLS]/[SEP] or a BOS, or characters); longer texts were truncated.';
comment on column runs.poolings is 'The sentence poolings stored for this run: cls and mean (transformers), last, mean and max (decoders: the last real token, the mean and the max over the text''s own tokens, padding and special tokens left out), final and mean (LSTM).';
comment on column runs.spec_json is 'The model spec from the config, as JSON.';
comment on column runs.spec_hash is 'Hash of spec_json.';
comment on column runs.code_version is 'Version of the pipeline code that ran the model (git commit or source hash).';
comment on column runs.built_at is 'When the activations of this run were last computed (UTC).';

create table layers (
    run_id varchar not null,
    layer integer not null,
    name varchar not null
);
-- key: run_id, layer
-- ref: run_id -> runs(run_id)
comment on table layers is 'The layers of each run.';
comment on column layers.run_id is 'The run (runs.run_id).';
comment on column layers.layer is 'Layer index as used in activations.layer; 0 is the embedding output for transformers and a decoder''s residual run, block 0 for a decoder''s MLP run.';
comment on column layers.name is 'Hook-style name: hook_embed, blocks.{l}.hook_resid_post (residual stream), blocks.{l}.mlp.hook_post (a decoder''s MLP post-activation neurons); or lstm{1,2}.{hidden,cell}.';

create table datasets (
    dataset varchar not null,
    source varchar not null,
    path varchar not null,
    description varchar,
    label_kind varchar not null,
    n_sentences integer not null,
    n_dropped_empty integer not null,
    has_pairs boolean not null,
    spec_json varchar not null,
    content_hash varchar not null,
    loaded_at timestamp not null
);
-- key: dataset
-- check: datasets.n_sentences matches sentences: select count(*) from datasets d left join (select dataset,
--     count(*) n from sentences group by dataset) s using (dataset) where coalesce(s.n, 0) <> d.n_sentences
comment on table datasets is 'One row per dataset.';
comment on column datasets.dataset is 'Dataset name from the config (e.g. movies, wiki, sst2).';
comment on column datasets.source is 'demo (PyPI package data), file, hf (Hugging Face datasets) or research (../shared/data preset).';
comment on column datasets.path is 'Demo corpus key, file path, HF name or folder, or research preset name.';
comment on column datasets.description is 'Human-readable description of the text.';
comment on column datasets.label_kind is 'What sentences.label means: none, binary (0/1), class (class index) or score (a number, e.g. mean human sentiment -4..+4).';
comment on column datasets.n_sentences is 'Rows in sentences for this dataset.';
comment on column datasets.n_dropped_empty is 'Source rows skipped because their text was empty.';
comment on column datasets.has_pairs is 'True when sentences.text_b is filled (sentence pairs, e.g. STS-B, QNLI).';
comment on column datasets.spec_json is 'The dataset spec from the config, as JSON.';
comment on column datasets.content_hash is 'Hash of the loaded rows; a change triggers recomputation for this dataset.';
comment on column datasets.loaded_at is 'When the rows were loaded (UTC).';

create table sentences (
    dataset varchar not null,
    sentence_id integer not null,
    text varchar not null,
    text_b varchar,
    label double,
    label_text varchar,
    split varchar
);
-- key: dataset, sentence_id
-- ref: dataset -> datasets(dataset)
comment on table sentences is 'Every text item.';
comment on column sentences.dataset is 'The dataset (datasets.dataset).';
comment on column sentences.sentence_id is '0-based position of the item in its dataset, in source order.';
comment on column sentences.text is 'The text the models read.';
comment on column sentences.text_b is 'Second text of a pair (not read by the sentence-level runners), else null.';
comment on column sentences.label is 'Numeric label or score (see datasets.label_kind), else null.';
comment on column sentences.label_text is 'The label as written in the source (e.g. positive, entailment), else null.';
comment on column sentences.split is 'Source split (train, dev, test) where known, else null.';

create table sentence_lengths (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    n_tokens integer not null,
    truncated boolean not null
);
-- key: run_id, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id -> runs(run_id)
comment on table sentence_lengths is 'Length of every sentence in each run''s own units.';
comment on column sentence_lengths.run_id is 'The run (runs.run_id).';
comment on column sentence_lengths.dataset is 'The dataset.';
comment on column sentence_lengths.sentence_id is 'The sentence (sentences.sentence_id).';
comment on column sentence_lengths.n_tokens is 'Length before truncation: tokens (WordPieces, BPE pieces) incl. special tokens, or characters for the LSTM.';
comment on column sentence_lengths.truncated is 'True when n_tokens > runs.max_length, so the model saw only the first max_length units.';

create table sentence_tokens (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    token varchar not null,
    n integer not null
);
-- key: run_id, dataset, sentence_id, token
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
comment on table sentence_tokens is 'Token counts per sentence from the run''s own tokenizer (special tokens excluded, whole untruncated text). Transformer and decoder runs.';
comment on column sentence_tokens.run_id is 'The run whose tokenizer produced the tokens.';
comment on column sentence_tokens.dataset is 'The dataset.';
comment on column sentence_tokens.sentence_id is 'The sentence.';
comment on column sentence_tokens.token is 'The token string as the tokenizer spells it (WordPiece continuation pieces keep their ## prefix; byte-level BPE marks a leading space with Ġ).';
comment on column sentence_tokens.n is 'How many times the token occurs in the sentence (>= 1).';

create table activation_store (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    dtype varchar not null,
    scale float not null,
    max_error float not null,
    codes smallint[],
    floats float[]
);
-- key: run_id, layer, pooling, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
-- check: activation_store rows hold hidden_size values of their dtype: select count(*) from activation_store a
--     join runs r using (run_id) where case a.dtype when 'int16' then a.codes is null or a.floats is not null
--     or len(a.codes) <> r.hidden_size when 'float32' then a.floats is null or a.codes is not null or
--     len(a.floats) <> r.hidden_size else true end
-- check: activation_store scales and errors are finite and non-negative: select count(*) from activation_store
--     where not (isfinite(scale) and scale >= 0 and isfinite(max_error) and max_error >= 0)
comment on table activation_store is 'The stored sentence vectors behind the activations view (read that view for float vectors): one row per (run, layer, pooling, dataset, sentence), written in contiguous blocks per (run, dataset, layer, pooling), so DuckDB''s per-row-group min/max lets a filter on run/layer/pooling skip the other blocks. dtype int16 (the default, config [storage] activations): value = codes[u + 1] * scale for unit u (0-based); float32: value = floats[u + 1]. Per-neuron top/bottom sentences are precomputed in neuron_topk, from these stored values.';
comment on column activation_store.run_id is 'The run.';
comment on column activation_store.layer is 'Layer index (layers.layer).';
comment on column activation_store.pooling is 'cls ([CLS] vector), mean (mask-aware mean over tokens or characters), last and max (decoders: the last real token, the maximum over tokens) or final (LSTM state after the last character).';
comment on column activation_store.dataset is 'The dataset.';
comment on column activation_store.sentence_id is 'The sentence.';
comment on column activation_store.dtype is 'int16 (codes holds the vector as integers, floats is null) or float32 (floats holds it, codes is null).';
comment on column activation_store.scale is 'int16: multiply a code by this to get the value; it is the row''s largest magnitude / 8191 (0 for an all-zero row). float32: 1.';
comment on column activation_store.max_error is 'Largest absolute difference in this row between the stored value (codes * scale) and the float32 value the model computed: at most scale / 2 (0 for float32).';
comment on column activation_store.codes is 'int16 storage: hidden_size integers in [-8191, 8191] (14 bits, which DuckDB bitpacks to about 1.85 bytes per value); unit u (0-based) is codes[u + 1] * scale. Null for float32.';
comment on column activation_store.floats is 'float32 storage: the hidden_size float32 values; unit u (0-based) is floats[u + 1]. Null for int16.';

-- The vectors as floats, whatever their storage: what researchers' own SQL reads (select vec from activations).
-- The dashboard's queries read activation_store directly (codes[u + 1] * scale; a dot product with the codes
-- times scale), which skips decoding every element of a row.
create view activations as
select run_id, layer, pooling, dataset, sentence_id,
       coalesce(floats, list_transform(codes, lambda c: c * scale)) as vec
from activation_store;
comment on view activations is 'Sentence vectors as float lists: one row per (run, layer, pooling, dataset, sentence), a view over activation_store that decodes its int16 codes (codes * scale) or passes its float32 values through. unit u (0-based) is vec[u + 1]. The storage error per row is activation_store.max_error.';
comment on column activations.run_id is 'The run.';
comment on column activations.layer is 'Layer index (layers.layer).';
comment on column activations.pooling is 'The pooling (as in activation_store).';
comment on column activations.dataset is 'The dataset.';
comment on column activations.sentence_id is 'The sentence.';
comment on column activations.vec is 'The vector, hidden_size float32 values as stored (see activation_store.max_error); SQL lists are 1-based, so unit u (0-based) is vec[u + 1].';

create table neuron_topk (
    run_id varchar not null,
    layer integer not null,
    pooling varchar not null,
    dataset varchar not null,
    unit integer not null,
    side varchar not null,
    sentence_ids integer[] not null,
    vals float[] not null
);
-- key: run_id, layer, pooling, dataset, unit, side
-- ref: (select dataset, unnest(sentence_ids) as sentence_id from neuron_topk)(dataset, sentence_id) ->
--     sentences(dataset, sentence_id)
-- ref: run_id, layer -> layers(run_id, layer)
-- check: neuron_topk lists have equal lengths: select count(*) from neuron_topk where len(sentence_ids) <>
--     len(vals) or len(vals) = 0
comment on table neuron_topk is 'For every neuron: the k highest (side=top) and k lowest (side=bottom) sentences of each dataset, k = config topk, most extreme first. Lets the dashboard fetch one neuron''s extremes without scanning activations. Rank r is element r of the lists: unnest(sentence_ids), unnest(vals).';
comment on column neuron_topk.run_id is 'The run.';
comment on column neuron_topk.layer is 'Layer index.';
comment on column neuron_topk.pooling is 'Pooling (as in activations).';
comment on column neuron_topk.dataset is 'The dataset.';
comment on column neuron_topk.unit is 'Neuron index, 0-based (activations.vec[unit + 1]).';
comment on column neuron_topk.side is 'top (highest activations first) or bottom (lowest first).';
comment on column neuron_topk.sentence_ids is 'The k sentences (sentences.sentence_id), most extreme first; ties go to the lower sentence_id.';
comment on column neuron_topk.vals is 'Their activation values, in the same order.';

create table stage_log (
    stage varchar not null,
    key varchar not null,
    inputs_hash varchar not null,
    finished_at timestamp not null,
    seconds double not null,
    rows bigint not null
);
-- key: stage, key
comment on table stage_log is 'What each pipeline stage computed and from which inputs; a stage whose inputs_hash is unchanged is copied from the previous warehouse instead of recomputed.';
comment on column stage_log.stage is 'Stage name, e.g. extract.';
comment on column stage_log.key is 'What the stage ran on, e.g. minilm/movies.';
comment on column stage_log.inputs_hash is 'Hash of the stage''s inputs: model spec, dataset content and the stage''s code.';
comment on column stage_log.finished_at is 'When it was computed (UTC); kept when copied.';
comment on column stage_log.seconds is 'How long the computation took.';
comment on column stage_log.rows is 'Activation rows written.';
