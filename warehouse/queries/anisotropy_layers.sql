-- The per-layer anisotropy metrics of one run, every dataset and '(pooled)', with the layer names. $run_id
with final as (
    select a.dataset, a.layer, l.name as layer_name, a.n_words, a.n_sentences, a.n_baseline,
           a.self_sim, a.self_sim_adj, a.intra_sim, a.intra_sim_adj, a.baseline, a.mev, a.mev_random, a.mev_adj
    from anisotropy_layers a
    join layers l using (run_id, layer)
    where a.run_id = $run_id
    order by a.dataset = '(pooled)' desc, a.dataset, a.layer
)

select * from final
