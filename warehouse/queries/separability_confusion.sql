-- Confusion matrix of the dataset SVM for one layer and pooling. $run_id, $layer, $pooling
with final as (
    select true_dataset, predicted_dataset, n
    from separability_confusion
    where run_id = $run_id and layer = $layer and pooling = $pooling
    order by true_dataset, predicted_dataset
)

select * from final
