-- The datasets of a run with their sizes, whether every item is a pair, and how many items have stored weights.
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
    select d.dataset, d.n_sentences, p.is_pair, coalesce(s.n_examples, 0) as n_examples
    from datasets d
    join pairs p using (dataset)
    left join stored s using (dataset)
    order by d.dataset
)

select * from final
