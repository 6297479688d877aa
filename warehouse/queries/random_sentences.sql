-- The first $k sentences of each chosen dataset's stored random draw (random_sentences) and, for neuron $unit
-- (0-based; null for none), its stored activation on each (neuron_histograms.random_vals). No texts.
-- $run_id, $layer, $pooling, $unit, $k, $datasets (varchar[])
with draws as (
    select dataset, unnest(range(1, len(sentence_ids[1:$k]) + 1)) as draw, unnest(sentence_ids[1:$k]) as sentence_id
    from random_sentences
    where run_id = $run_id and list_contains($datasets, dataset)
),

vals as (
    select dataset, unnest(range(1, len(random_vals[1:$k]) + 1)) as draw, unnest(random_vals[1:$k]) as value
    from neuron_histograms
    where run_id = $run_id and layer = $layer and pooling = $pooling and unit = $unit
      and list_contains($datasets, dataset)
),

final as (
    select d.dataset, d.draw, d.sentence_id, v.value
    from draws d
    left join vals v using (dataset, draw)
    order by d.dataset, d.draw
)

select * from final
