-- The (layer, pooling) pairs of a run whose quantile samples the build stored.
-- $run_id
with final as (
    select distinct layer, pooling
    from quantile_stats
    where run_id = $run_id
    order by layer, pooling
)

select * from final
