-- Token counts per sentence for one run's tokenizer in the chosen datasets. $run_id, $datasets (varchar[])
with final as (
    select dataset, sentence_id, token, n
    from sentence_tokens
    where run_id = $run_id and list_contains($datasets, dataset)
)

select * from final
