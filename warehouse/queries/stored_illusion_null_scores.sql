-- The stored direction-null scores of one layer (over all of the run's datasets), by unit, with the null's
-- kind and size. $run_id, $layer, $pooling, $k
with scores as (
    select unit, consistency, null_mean, null_std, z, percentile, p_value, q_value, null_kind
    from illusion_null_scores
    where run_id = $run_id and layer = $layer and pooling = $pooling and k = $k
),

null_size as (
    select null_kind, count(*) filter (where isfinite(consistency)) as n_null, any_value(seed) as seed
    from illusion_null
    where run_id = $run_id and layer = $layer and pooling = $pooling and k = $k
    group by null_kind
),

final as (
    select s.*, n.n_null, n.seed
    from scores s
    left join null_size n using (null_kind)
    order by s.null_kind, s.unit
)

select * from final
