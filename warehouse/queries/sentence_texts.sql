-- Texts of chosen sentences. $keys: list of {'dataset': ..., 'sentence_id': ...} structs.
with wanted as (
    select unnest($keys, recursive := true)
),

final as (
    select s.dataset, s.sentence_id, s.text, s.label, s.label_text
    from sentences s
    join wanted w on s.dataset = w.dataset and s.sentence_id = w.sentence_id
)

select * from final
