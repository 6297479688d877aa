-- The sentiment stage's datasets for a run: status, labelling rule, split sizes. $run_id
with final as (
    select dataset, status, reason, label_kind, rule, n_labelled, n_positive, n_negative, n_dropped,
           n_train, n_dev, n_test, n_long_test, n_cut_for_suffix
    from sentiment_datasets
    where run_id = $run_id
    order by dataset
)

select * from final
