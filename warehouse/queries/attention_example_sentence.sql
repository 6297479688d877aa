-- One sentence's texts, or no row. $dataset, $sentence_id
with final as (
    select sentence_id, text, text_b, label, label_text
    from sentences
    where dataset = $dataset and sentence_id = $sentence_id
)

select * from final
