-- Every sentence's activation of one neuron: the same numbers as direction_scores with a one-hot direction,
-- read as one list element instead of a dot product over the whole vector (activation_store: code * scale,
-- or the float32 value).
-- $run_id, $layer, $pooling, $unit (0-based), $datasets (varchar[])
with final as (
    select dataset, sentence_id, coalesce(floats[$unit + 1], codes[$unit + 1] * scale) as value
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
)

select * from final
