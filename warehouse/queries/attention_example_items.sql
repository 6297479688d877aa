-- The items of a run and dataset whose attention is stored, with their texts. $run_id, $dataset
with final as (
    select e.sentence_id, e.n_tokens, s.text, s.text_b
    from attention_examples e
    join sentences s using (dataset, sentence_id)
    where e.run_id = $run_id and e.dataset = $dataset
    order by e.sentence_id
)

select * from final
