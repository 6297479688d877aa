-- Per-example attention (the BertViz / exBERT view), written by pipeline/stages/attention.py for a seeded sample of
-- the attention stage's own items (attention.examples per dataset), so that a dashboard without the model (no
-- torch) still shows every head of every layer of those items. With the model, the page computes any item live.

create table attention_examples (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    is_pair boolean not null,
    n_layers integer not null,
    n_heads integer not null,
    n_tokens integer not null,
    tokens varchar[] not null,
    dtype varchar not null,
    scale float not null,
    max_error float not null,
    weights blob not null
);
-- key: run_id, dataset, sentence_id
-- ref: run_id, dataset, sentence_id, is_pair, n_tokens -> attention_items(run_id, dataset, sentence_id, is_pair,
--     n_tokens)
-- ref: run_id, dataset, sentence_id -> (select * from attention_examples where len(tokens) = n_tokens)(run_id,
--     dataset, sentence_id)
-- Every packed array holds exactly n_layers x n_heads x n_tokens x n_tokens values of its dtype:
-- ref: run_id, dataset, sentence_id -> (select * from attention_examples where octet_length(weights) = n_layers *
--     n_heads * n_tokens * n_tokens * case dtype when 'uint8' then 1 when 'float16' then 2 when 'float32' then 4
--     end)(run_id, dataset, sentence_id)
comment on table attention_examples is 'Every attention weight of every head and layer for a sample of the attention stage''s items, packed: weights is a row-major [n_layers, n_heads, n_tokens, n_tokens] little-endian array of dtype, and weight = stored * scale; [l, h, i, j] is how much query token i attends to key token j in head h of block l + 1 (each row i sums to 1). In Python: np.frombuffer(weights, dtype).reshape(n_layers, n_heads, n_tokens, n_tokens) * scale.';
comment on column attention_examples.run_id is 'The run (a transformer; attention_items.run_id).';
comment on column attention_examples.dataset is 'The dataset.';
comment on column attention_examples.sentence_id is 'The item (sentences.sentence_id), one of the stage''s attention_items.';
comment on column attention_examples.is_pair is 'True when encoded as a pair, [CLS] a [SEP] b [SEP]; false: [CLS] a [SEP] (as attention_items.is_pair).';
comment on column attention_examples.n_layers is 'Blocks of the model: layer index l (layers.layer) is the attention of block l, 1 to n_layers.';
comment on column attention_examples.n_heads is 'Attention heads per block.';
comment on column attention_examples.n_tokens is 'WordPieces of the encoded item, special tokens included, after truncation (= attention_items.n_tokens).';
comment on column attention_examples.tokens is 'The n_tokens WordPiece strings in order ([CLS], [SEP] and ## prefixes kept).';
comment on column attention_examples.dtype is 'Element type of weights: float16 (scale 1), uint8 (code = round(255 * weight), scale 1/255) or float32.';
comment on column attention_examples.scale is 'Multiply the stored numbers by this to get the weight.';
comment on column attention_examples.max_error is 'Largest absolute difference between the decoded and the computed float32 weights of this row (0 for float32).';
comment on column attention_examples.weights is 'The packed [n_layers, n_heads, n_tokens, n_tokens] array (its product times the dtype''s size in bytes).';
