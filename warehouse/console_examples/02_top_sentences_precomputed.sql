-- Top 10 sentences of neuron N per dataset, from the precomputed neuron_topk
-- neuron_topk keeps the k most extreme sentences of every unit, per dataset and side (top/bottom), so
-- this reads no vectors. Edit the neuron (and run, layer, pooling) as in the previous example.
with params as (
    select run_id,
           (select max(layer) from layers where layers.run_id = runs.run_id) as layer,
           poolings[1] as pooling,
           0 as unit  -- the neuron, 0-based
    from runs
    order by run_id
    limit 1
),

top as (
    select t.dataset, unnest(range(1, len(t.sentence_ids[1:10]) + 1)) as rank,
           unnest(t.sentence_ids[1:10]) as sentence_id, unnest(t.vals[1:10]) as value
    from neuron_topk t
    join params p using (run_id, layer, pooling, unit)
    where t.side = 'top'
),

final as (
    select top.dataset, top.rank, top.sentence_id, top.value, s.text
    from top
    join sentences s using (dataset, sentence_id)
    order by top.dataset, top.rank
)

select * from final
