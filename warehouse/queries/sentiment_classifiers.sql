-- Every classifier of one run and dataset: all units, SN deleted, SN only, per feature set and penalty.
-- $run_id, $dataset
with final as (
    select feature, penalty, model, n_units, c, n_nonzero, dev_accuracy, test_accuracy, sn_unit
    from sentiment_classifiers
    where run_id = $run_id and dataset = $dataset
    order by feature, penalty, model
)

select * from final
