-- Top 10 sentences of neuron N per dataset
-- Scored from the stored vectors: unit u (0-based) is vec[u + 1]. Edit the neuron below (and the run,
-- layer or pooling: by default the first run, its last layer and its first pooling). Ties go to the
-- lower sentence_id. The same lists are precomputed in neuron_topk (next example), which is faster.
with params as (
    select run_id,
           (select max(layer) from layers where layers.run_id = runs.run_id) as layer,
           poolings[1] as pooling,
           0 as unit  -- the neuron, 0-based
    from runs
    order by run_id
    limit 1
),

scores as (
    select a.dataset, a.sentence_id, a.vec[p.unit + 1] as value
    from activations a
    join params p using (run_id, layer, pooling)
),

ranked as (
    select dataset, row_number() over (partition by dataset order by value desc, sentence_id) as rank,
           sentence_id, value
    from scores
    qualify rank <= 10
),

final as (
    select r.dataset, r.rank, r.sentence_id, r.value, s.text
    from ranked r
    join sentences s using (dataset, sentence_id)
    order by r.dataset, r.rank
)

select * from final
