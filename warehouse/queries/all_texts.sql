-- Every sentence's text, in (dataset, sentence_id) order: the dashboard keeps one copy in memory per file.
with final as (
    select dataset, sentence_id, text
    from sentences
    order by dataset, sentence_id
)

select * from final
