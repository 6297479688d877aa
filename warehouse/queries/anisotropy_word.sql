-- One word's metrics at every layer, per dataset and '(pooled)'. $run_id, $word (lower-case)
with final as (
    select w.dataset, w.layer, l.name as layer_name, w.word, w.n_contexts, w.self_sim, w.self_sim_adj,
           w.mev, w.mev_random, w.mev_adj
    from anisotropy_words w
    join layers l using (run_id, layer)
    where w.run_id = $run_id and w.word = $word
    order by w.dataset = '(pooled)' desc, w.dataset, w.layer
)

select * from final
