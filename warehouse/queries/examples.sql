-- A few example sentences of each dataset, chosen by a seeded hash so they are stable. $per_dataset
with numbered as (
    select dataset, sentence_id, text, label, label_text,
           row_number() over (partition by dataset order by hash(sentence_id, dataset)) as pick
    from sentences
),

final as (
    select dataset, sentence_id, text, label, label_text
    from numbered
    where pick <= $per_dataset
    order by dataset, pick
)

select * from final
