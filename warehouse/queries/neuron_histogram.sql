-- One neuron's precomputed activation histogram per chosen dataset (neuron_histograms).
-- $run_id, $layer, $pooling, $unit (0-based), $datasets (varchar[])
with final as (
    select dataset, lo, hi, counts
    from neuron_histograms
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
      and list_contains($datasets, dataset)
    order by dataset
)

select * from final
