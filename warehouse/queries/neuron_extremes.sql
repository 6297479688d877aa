-- Top and bottom k sentences of one neuron in each chosen dataset, from the precomputed neuron_topk, without
-- their texts (the dashboard attaches those from its in-memory copy; neuron_top.sql joins them in SQL).
-- $run_id, $layer, $pooling, $unit (0-based), $k, $datasets (varchar[])
with lists as (
    select dataset, side, sentence_ids[1:$k] as sentence_ids, vals[1:$k] as vals
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
      and list_contains($datasets, dataset)
),

final as (
    select side, dataset, unnest(range(1, len(sentence_ids) + 1)) as rank,
           unnest(sentence_ids) as sentence_id, unnest(vals) as value
    from lists
    order by side desc, dataset, rank
)

select * from final
