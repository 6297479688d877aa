-- Top (or bottom) k sentences of one neuron in each chosen dataset, from the precomputed neuron_topk.
-- $run_id, $layer, $pooling, $unit (0-based), $side ('top' | 'bottom'), $k, $datasets (varchar[])
with lists as (
    select dataset, sentence_ids[1:$k] as sentence_ids, vals[1:$k] as vals
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
      and side = $side and list_contains($datasets, dataset)
),

extremes as (
    select dataset, unnest(range(1, len(sentence_ids) + 1)) as rank,
           unnest(sentence_ids) as sentence_id, unnest(vals) as value
    from lists
),

final as (
    select e.dataset, e.rank, e.sentence_id, e.value, s.text
    from extremes e
    join sentences s using (dataset, sentence_id)
    order by e.dataset, e.rank
)

select * from final
