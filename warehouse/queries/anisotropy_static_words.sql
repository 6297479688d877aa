-- The most static words of a run, layer and sample: highest maximum explainable variance, raw (by = 'mev') or
-- adjusted for the chance level of the word's number of contexts (by = 'mev_adj'). $run_id, $layer, $dataset, $k, $by
with words as (
    select *, case when $by = 'mev_adj' then mev_adj else mev end as score
    from anisotropy_words
    where run_id = $run_id and layer = $layer and dataset = $dataset and mev is not null
),

final as (
    select row_number() over (order by score desc, word) as rank, word, n_contexts, mev, mev_random, mev_adj,
           self_sim, self_sim_adj
    from words
    order by rank
    limit $k
)

select * from final
