-- The random unit subsets of a feature set: accuracy, whether the SN is in, the units as text.
-- $run_id, $dataset, $feature, $penalty
with final as (
    select subset, test_accuracy, dev_accuracy, has_sn, len(units) as n_units,
           array_to_string(units, ' ') as units
    from sentiment_subsets
    where run_id = $run_id and dataset = $dataset and feature = $feature and penalty = $penalty
    order by subset
)

select * from final
