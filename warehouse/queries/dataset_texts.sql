-- All texts of the chosen datasets. $datasets (varchar[])
with final as (
    select dataset, sentence_id, text
    from sentences
    where list_contains($datasets, dataset)
    order by dataset, sentence_id
)

select * from final
