-- Every (run, layer) with stored token states: its size, storage type and quantisation error.
with stored as (
    select run_id, layer,
           count(*) as n_sentences,
           sum(n_units) as n_steps,
           string_agg(distinct dtype, ', ' order by dtype) as dtypes,
           sum(octet_length(states)) as state_bytes,
           max(max_error) as max_error
    from token_states
    group by run_id, layer
),

final as (
    select s.run_id, r.model_kind, r.model_name, r.hidden_size, s.layer, l.name as layer_name,
           s.n_sentences, s.n_steps, s.dtypes, s.state_bytes,
           s.state_bytes / greatest(s.n_steps, 1) as bytes_per_step, s.max_error
    from stored s
    join runs r using (run_id)
    join layers l using (run_id, layer)
    order by s.run_id, s.layer
)

select * from final
