-- The datasets of a run with their sizes, whether every item is a pair, how many items have stored weights, and
-- which encoder the stored weights came from (attention_encoders; pretrained when the stage did not record one).
-- $run_id
with stored as (
    select dataset, count(*) as n_examples
    from attention_examples
    where run_id = $run_id
    group by dataset
),

pairs as (
    select dataset, bool_and(text_b is not null) as is_pair
    from sentences
    group by dataset
),

final as (
    select d.dataset, d.n_sentences, p.is_pair, coalesce(s.n_examples, 0) as n_examples,
           coalesce(e.encoder, 'pretrained') as encoder, e.epochs as encoder_epochs
    from datasets d
    join pairs p using (dataset)
    left join stored s using (dataset)
    left join attention_encoders e on e.run_id = $run_id and e.dataset = d.dataset
    order by d.dataset
)

select * from final
