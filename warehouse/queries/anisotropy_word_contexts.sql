-- The sampled contexts of one word in one sample (a dataset or '(pooled)'), with their text. $run_id, $word, $sample
with contexts as (
    select * from anisotropy_contexts
    where run_id = $run_id and word = $word and sample = $sample
),

final as (
    select c.dataset, c.sentence_id, c.char_start, c.char_end, c.n_units, c.used, s.text
    from contexts c
    join sentences s using (dataset, sentence_id)
    order by c.used desc, c.dataset, c.sentence_id
)

select * from final
