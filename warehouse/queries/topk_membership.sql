-- How many neurons have each sentence among their top-$k (side 'top', the first $k elements of the stored
-- lists), per dataset, for one run/layer/pooling; only sentences that are top-$k at least once, with text.
-- $run_id, $layer, $pooling, $k, $datasets (varchar[])
with lists as (
    select dataset, unit, sentence_ids[1:$k] as sentence_ids
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling and side = 'top'
      and list_contains($datasets, dataset)
),

slots as (
    select dataset, unit, unnest(sentence_ids) as sentence_id
    from lists
),

counts as (
    select dataset, sentence_id, count(distinct unit) as count
    from slots
    group by dataset, sentence_id
),

final as (
    select c.dataset, c.sentence_id, c.count, s.text
    from counts c
    join sentences s using (dataset, sentence_id)
    order by c.count desc, c.dataset, c.sentence_id
)

select * from final
