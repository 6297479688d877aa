-- The pooled per-layer anisotropy metrics of every run that has them, for comparing runs on one chart.
with runs_with_rows as (
    select distinct run_id from anisotropy_layers
),

final as (
    select a.run_id, r.model_kind, r.model_name, r.n_layers, a.layer, l.name as layer_name,
           a.self_sim, a.self_sim_adj, a.intra_sim, a.intra_sim_adj, a.baseline, a.mev, a.mev_random, a.mev_adj
    from anisotropy_layers a
    join runs_with_rows using (run_id)
    join runs r using (run_id)
    join layers l using (run_id, layer)
    where a.dataset = '(pooled)'
    order by a.run_id, a.layer
)

select * from final
