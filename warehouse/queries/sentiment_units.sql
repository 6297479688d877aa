-- One row per unit of a feature set: weight, rank, the unit alone, left out, cumulative ablation; with the
-- layer's name. $run_id, $dataset, $feature, $penalty
with units as (
    select *
    from sentiment_units
    where run_id = $run_id and dataset = $dataset and feature = $feature and penalty = $penalty
),

final as (
    select u.unit, u.layer, l.name as layer_name, u.pooling, u.neuron, u.weight, u.weight_rank, u.single_c,
           u.single_dev_accuracy, u.single_accuracy, u.ablation_accuracy, u.cumulative_accuracy, u.ablation_c,
           u.subset_c
    from units u
    join layers l on l.run_id = u.run_id and l.layer = u.layer
    order by u.unit
)

select * from final
