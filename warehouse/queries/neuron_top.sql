-- Top (or bottom) k sentences of one neuron in each chosen dataset, from the precomputed neuron_topk.
-- $run_id, $layer, $pooling, $unit (0-based), $side ('top' | 'bottom'), $k, $datasets (varchar[])
with extremes as (
    select dataset, rank, sentence_id, value
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
      and side = $side and rank <= $k and list_contains($datasets, dataset)
),

final as (
    select e.dataset, e.rank, e.sentence_id, e.value, s.text
    from extremes e
    join sentences s using (dataset, sentence_id)
    order by e.dataset, e.rank
)

select * from final
