-- The stored top-set consistencies (illusion_null stage, all the runs' datasets, top k) set side by side by the
-- dictionary comparison: the dictionary run's features (its one layer, $pooling), and the base run's neurons
-- and random directions at the layer the dictionary reads ($layer, $base_pooling). $run_id, $base_run_id, $k
with features as (
    select 'dictionary features' as what, unit, consistency
    from illusion_null_scores
    where run_id = $run_id and layer = 0 and pooling = $pooling and k = $k
),

neurons as (
    select 'neurons' as what, unit, consistency
    from illusion_null_scores
    where run_id = $base_run_id and layer = $layer and pooling = $base_pooling and k = $k
),

random_directions as (
    select 'random directions' as what, direction as unit, consistency
    from illusion_null
    where run_id = $base_run_id and layer = $layer and pooling = $base_pooling and k = $k
),

final as (
    select * from features
    union all
    select * from neurons
    union all
    select * from random_directions
)

select * from final order by what, unit
