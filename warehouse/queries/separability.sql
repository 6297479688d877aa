-- Held-out accuracy of the dataset SVM for every layer and pooling of a run. $run_id
with final as (
    select s.layer, l.name as layer_name, s.pooling, s.accuracy, s.chance, s.n_train, s.n_test, s.per_dataset
    from separability s
    join layers l using (run_id, layer)
    where s.run_id = $run_id
    order by s.pooling, s.layer
)

select * from final
