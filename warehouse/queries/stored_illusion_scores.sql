-- The stored illusion scores of one layer (over all of the run's datasets), by unit. $run_id, $layer, $pooling, $k
with final as (
    select unit, consistency, baseline_mean, baseline_std, robustness
    from illusion_scores
    where run_id = $run_id and layer = $layer and pooling = $pooling and k = $k
    order by unit
)

select * from final
