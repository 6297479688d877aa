-- Sentences containing a phrase (case-insensitive), optionally in chosen datasets. $pattern, $datasets, $limit
with hits as (
    select dataset, sentence_id, text, label, label_text
    from sentences
    where contains(lower(text), lower($pattern)) and (len($datasets) = 0 or list_contains($datasets, dataset))
),

final as (
    select * from hits order by dataset, sentence_id limit $limit
)

select * from final
