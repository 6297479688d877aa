-- Token-level top examples (pipeline/stages/token_topk.py): per unit and dataset, the sentences whose strongest
-- token activates the unit most (and least), with that token, as Neuronpedia and sae_vis show a feature.

create table token_topk (
    run_id varchar not null,
    layer integer not null,
    dataset varchar not null,
    unit integer not null,
    side varchar not null,
    sentence_ids integer[] not null,
    positions integer[] not null,
    starts integer[] not null,
    ends integer[] not null,
    vals float[] not null
);
-- key: run_id, layer, dataset, unit, side
-- ref: run_id, layer -> layers(run_id, layer)
-- ref: (select dataset, unnest(sentence_ids) as sentence_id from token_topk)(dataset, sentence_id) ->
--     sentences(dataset, sentence_id)
-- check: token_topk lists have equal lengths: select count(*) from token_topk where len(vals) = 0 or
--     len(sentence_ids) <> len(vals) or len(positions) <> len(vals) or len(starts) <> len(vals) or
--     len(ends) <> len(vals)
comment on table token_topk is 'For every unit and dataset: the k sentences whose maximal token activation is highest (side = top) and whose minimal one is lowest (side = bottom), most extreme first, each with that token. A sentence counts once, through its extreme token, so one long text cannot fill a list. Rank r is element r of every list: unnest(sentence_ids), unnest(positions), unnest(starts), unnest(ends), unnest(vals). Ties go to the lower sentence id.';
comment on column token_topk.run_id is 'The run.';
comment on column token_topk.layer is 'Layer index (layers.layer).';
comment on column token_topk.dataset is 'The dataset.';
comment on column token_topk.unit is 'Unit index, 0-based (as in activations: vec[unit + 1]).';
comment on column token_topk.side is 'top (the highest token activations) or bottom (the lowest).';
comment on column token_topk.sentence_ids is 'The sentences, most extreme first.';
comment on column token_topk.positions is 'Each sentence''s extreme token: its 0-based index among the text''s own units (WordPieces or tokens without special tokens, or characters / bytes for an LSTM), as token_units.units.';
comment on column token_topk.starts is 'The token''s first character in sentences.text (0-based).';
comment on column token_topk.ends is 'One past the token''s last character: the token is text[start:end] (SQL: substr(text, start + 1, end - start)).';
comment on column token_topk.vals is 'The unit''s activation at that token (float32).';
