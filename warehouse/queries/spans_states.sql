-- The packed states of one (run, layer). $run_id, $layer
-- Unordered: the caller puts the rows in block order (dataset, sentence_id, as spans_units). Sorting here moved
-- every blob through DuckDB's sort, 0.6 s of a layer's 1.1 s on the demo; sorting the keys and taking the rows
-- in Arrow costs a copy.
with final as (
    select dataset, sentence_id, n_units, dtype, scale, states
    from token_states
    where run_id = $run_id and layer = $layer
)

select * from final
