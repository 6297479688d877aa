-- The used contexts of several words of one sample, with their text. $run_id, $sample, $words (list)
with contexts as (
    select * from anisotropy_contexts
    where run_id = $run_id and sample = $sample and used and list_contains($words, word)
),

final as (
    select c.word, c.dataset, c.sentence_id, c.char_start, c.char_end, s.text
    from contexts c
    join sentences s using (dataset, sentence_id)
    order by c.word, c.dataset, c.sentence_id
)

select * from final
