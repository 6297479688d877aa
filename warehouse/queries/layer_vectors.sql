-- Every sentence vector of one layer and pooling in the chosen datasets, in (dataset, sentence_id) order.
-- $run_id, $layer, $pooling, $datasets (varchar[])
with final as (
    select dataset, sentence_id, vec
    from activations
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
    order by dataset, sentence_id
)

select * from final
