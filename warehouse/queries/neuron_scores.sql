-- Every sentence's activation of one neuron: the same numbers as direction_scores with a one-hot direction,
-- read as one list element instead of a dot product over the whole vector.
-- $run_id, $layer, $pooling, $unit (0-based), $datasets (varchar[])
with final as (
    select dataset, sentence_id, vec[$unit + 1] as value
    from activations
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
)

select * from final
