-- The stored locality L of every neuron of one layer in one dataset, by unit. $run_id, $layer, $pooling, $dataset, $k
with final as (
    select unit, locality
    from neuron_locality
    where run_id = $run_id and layer = $layer and pooling = $pooling and dataset = $dataset and k = $k
    order by unit
)

select * from final
