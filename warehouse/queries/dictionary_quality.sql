-- One dictionary run's reconstruction quality per dataset, with its features' median density there.
-- $run_id
with density as (
    select dataset, median(density) as median_density, avg(density) as mean_density
    from dictionary_density
    where run_id = $run_id
    group by dataset
),

final as (
    select q.dataset, q.n_tokens, q.explained_variance, q.mse, q.l0, q.n_dead, q.dead_share, d.median_density,
           d.mean_density
    from dictionary_quality q
    left join density d using (dataset)
    where q.run_id = $run_id
    order by q.dataset
)

select * from final
