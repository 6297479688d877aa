-- The stored top-set consistencies (illusion_null stage, all the runs' datasets, top k) set side by side by the
-- dictionary comparison: the dictionary run's features (its one layer, $pooling), and the base run's neurons
-- and random directions at the layer the dictionary reads ($layer, $base_pooling). z_null: each against the
-- random directions of its own space (the features': of the dictionary run; a random direction's own z uses
-- the base layer's null mean and std, as its neurons' do). $run_id, $base_run_id, $k
with features as (
    select 'dictionary features' as what, unit, consistency, z as z_null
    from illusion_null_scores
    where run_id = $run_id and layer = 0 and pooling = $pooling and k = $k
),

neurons as (
    select 'neurons' as what, unit, consistency, z as z_null
    from illusion_null_scores
    where run_id = $base_run_id and layer = $layer and pooling = $base_pooling and k = $k
),

base_null as (
    select any_value(null_mean) as null_mean, any_value(null_std) as null_std
    from illusion_null_scores
    where run_id = $base_run_id and layer = $layer and pooling = $base_pooling and k = $k
),

random_directions as (
    select 'random directions' as what, n.direction as unit, n.consistency,
           (n.consistency - b.null_mean) / b.null_std as z_null
    from illusion_null n, base_null b
    where n.run_id = $base_run_id and n.layer = $layer and n.pooling = $base_pooling and n.k = $k
),

final as (
    select * from features
    union all
    select * from neurons
    union all
    select * from random_directions
)

select * from final order by what, unit
