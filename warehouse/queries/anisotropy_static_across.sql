-- The words of a run and sample that stay static at every layer: ranked by their lowest MEV over the layers.
-- $run_id, $dataset, $k
with words as (
    select * from anisotropy_words
    where run_id = $run_id and dataset = $dataset
),

per_word as (
    select word, max(n_contexts) as n_contexts, count(*) as n_layers, min(mev) as min_mev, avg(mev) as mean_mev,
           max(mev) as max_mev, min(mev_adj) as min_mev_adj, avg(self_sim) as mean_self_sim
    from words
    group by word
    having count(mev) = count(*)
),

final as (
    select row_number() over (order by min_mev desc, word) as rank, *
    from per_word
    order by rank
    limit $k
)

select * from final
