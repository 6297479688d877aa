-- The most contextual words of a run, layer and sample: lowest self-similarity. $run_id, $layer, $dataset, $k
with words as (
    select * from anisotropy_words
    where run_id = $run_id and layer = $layer and dataset = $dataset
),

final as (
    select row_number() over (order by self_sim, word) as rank, word, n_contexts, self_sim, self_sim_adj, mev,
           mev_random, mev_adj
    from words
    order by rank
    limit $k
)

select * from final
