-- Stored sentences of a run (those with token states) containing a phrase, case-insensitive. $run_id, $pattern, $limit
with hits as (
    select u.dataset, u.sentence_id, s.text
    from token_units u
    join sentences s using (dataset, sentence_id)
    where u.run_id = $run_id and contains(lower(s.text), lower($pattern))
),

final as (
    select * from hits order by dataset, sentence_id limit $limit
)

select * from final
