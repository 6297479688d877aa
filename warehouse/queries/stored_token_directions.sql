-- Per dataset, every neuron's stored token directions (monotonic_tokens order), by dataset and unit.
-- $run_id, $layer, $pooling, $min_count
with final as (
    select dataset, unit, directions
    from token_directions
    where run_id = $run_id and layer = $layer and pooling = $pooling and min_count = $min_count
    order by dataset, unit
)

select * from final
