-- Every (run, layer, pooling) that neuron_topk holds, with the layer's hook name and the run's model: the
-- units' groups (Neuronpedia's sources) an export writes.
-- $runs (varchar[]; empty = every run)
with slices as (
    select distinct run_id, layer, pooling
    from neuron_topk
    where len($runs) = 0 or list_contains($runs, run_id)
),

final as (
    select s.run_id, s.layer, s.pooling, l.name as hook_name, r.model_name, r.hidden_size
    from slices as s
    inner join layers as l using (run_id, layer)
    inner join runs as r using (run_id)
    order by s.run_id, s.layer, s.pooling
)

select * from final
