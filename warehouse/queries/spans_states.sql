-- The packed states of one (run, layer), in block order (as spans_units). $run_id, $layer
with final as (
    select dataset, sentence_id, n_units, dtype, scale, states
    from token_states
    where run_id = $run_id and layer = $layer
    order by dataset, sentence_id
)

select * from final
