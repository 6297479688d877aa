-- The stored extreme examples of every unit: one row per (run, layer, pooling, dataset, unit, side, rank) with
-- the sentence's text, rank 1 the most extreme. What `pipeline export --format neuronpedia|hf` write.
-- $runs (varchar[]; empty = every run), $top (ranks kept per list)
with ranked as (
    select
        run_id, layer, pooling, dataset, unit, side,
        unnest(range(1, len(sentence_ids) + 1)) as rank,
        unnest(sentence_ids) as sentence_id,
        unnest(vals) as value
    from neuron_topk
    where len($runs) = 0 or list_contains($runs, run_id)
),

final as (
    select
        r.run_id, r.layer, l.name as hook_name, r.pooling, r.dataset, r.unit, r.side, r.rank,
        r.sentence_id, s.text, s.text_b, r.value
    from ranked as r
    inner join layers as l using (run_id, layer)
    inner join sentences as s using (dataset, sentence_id)
    where r.rank <= $top
    order by r.run_id, r.layer, r.pooling, r.unit, r.dataset, r.side desc, r.rank
)

select * from final
