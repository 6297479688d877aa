-- Min and max of every neuron's top-k activations per dataset (for the top-k range overlap figure).
-- $run_id, $layer, $pooling, $k, $datasets (varchar[])
with final as (
    select unit, dataset, list_min(vals[1:$k]) as lo, list_max(vals[1:$k]) as hi
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling and side = 'top'
      and list_contains($datasets, dataset)
)

select * from final order by unit, dataset
