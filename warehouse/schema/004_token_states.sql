-- Token-level states for the span-match page (LSTMVis, Strobelt et al.): every step of a sample of sentences.
-- Written by pipeline/stages/token_states.py (settings: the [token_states] config section).

create table token_units (
    run_id varchar not null,
    dataset varchar not null,
    sentence_id integer not null,
    n_units integer not null,
    units varchar[] not null,
    starts integer[] not null,
    ends integer[] not null
);
-- key: run_id, dataset, sentence_id
-- ref: dataset, sentence_id -> sentences(dataset, sentence_id)
-- ref: run_id -> runs(run_id)
-- Offsets lists as long as the units list:
-- ref: run_id, dataset, sentence_id -> (select * from token_units where len(units) = n_units and len(starts) =
--     n_units and len(ends) = n_units)(run_id, dataset, sentence_id)
comment on table token_units is 'The units (steps) a run read in each sampled sentence: characters for the LSTM, WordPieces (no [CLS]/[SEP]) for a transformer, with their character offsets in sentences.text. Only the token_states sample (token_states.per_dataset sentences per dataset) is here.';
comment on column token_units.run_id is 'The run (runs.run_id).';
comment on column token_units.dataset is 'The dataset.';
comment on column token_units.sentence_id is 'The sentence (sentences.sentence_id).';
comment on column token_units.n_units is 'Number of units T; a text longer than runs.max_length is cut (see sentence_lengths.truncated), so T covers only what the model saw.';
comment on column token_units.units is 'The units in order: one character each for the LSTM, WordPiece strings (## continuation prefix kept) for a transformer.';
comment on column token_units.starts is 'Character offset in sentences.text where each unit starts (0-based).';
comment on column token_units.ends is 'Character offset where each unit ends (exclusive): unit i (0-based) is text[starts[i]:ends[i]] in Python.';

create table token_states (
    run_id varchar not null,
    layer integer not null,
    dataset varchar not null,
    sentence_id integer not null,
    n_units integer not null,
    dtype varchar not null,
    scale float not null,
    max_error float not null,
    states blob not null
);
-- key: run_id, layer, dataset, sentence_id
-- ref: run_id, layer -> layers(run_id, layer)
-- Same units (and as many) as token_units says:
-- ref: run_id, dataset, sentence_id, n_units -> token_units(run_id, dataset, sentence_id, n_units)
-- Every packed array holds exactly n_units x hidden_size values of its dtype:
-- ref: run_id, layer, dataset, sentence_id -> (select s.* from token_states s join runs r using (run_id) where
--     octet_length(s.states) = s.n_units * r.hidden_size * case s.dtype when 'int8' then 1 when 'float16' then 2
--     when 'float32' then 4 end)(run_id, layer, dataset, sentence_id)
comment on table token_states is 'One layer''s state at every unit of a sampled sentence, packed: states is a row-major [n_units, runs.hidden_size] little-endian array of dtype, and value = stored * scale. In Python: np.frombuffer(states, dtype).reshape(n_units, -1) * scale.';
comment on column token_states.run_id is 'The run.';
comment on column token_states.layer is 'Layer index (layers.layer): an LSTM stream lstm{1,2}.{hidden,cell} or a transformer layer.';
comment on column token_states.dataset is 'The dataset.';
comment on column token_states.sentence_id is 'The sentence.';
comment on column token_states.n_units is 'Rows of the array: equals token_units.n_units.';
comment on column token_states.dtype is 'Element type of states: int8 (for states bounded in [-1, 1], LSTM hidden: code = round(127 * value), scale = 1/127), float16 or float32. 1, 2 or 4 bytes per unit and step.';
comment on column token_states.scale is 'Multiply the stored numbers by this to get the state (1/127 for int8, 1 for floats).';
comment on column token_states.max_error is 'Largest absolute difference between the decoded and the computed float32 state in this row (the quantisation error; 0 for float32).';
comment on column token_states.states is 'The packed [n_units, hidden_size] array (n_units * hidden_size * itemsize bytes).';
