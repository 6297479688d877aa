-- Sentences per dataset
-- How many sentences each dataset holds, with its label kind, how many carry a label, and their mean
-- length in characters.
with counts as (
    select dataset, count(*) as n_sentences, count(label) as n_labelled,
           round(avg(length(text)), 1) as mean_chars
    from sentences
    group by dataset
),

final as (
    select d.dataset, d.label_kind, c.n_sentences, c.n_labelled, c.mean_chars, d.description
    from datasets d
    join counts c using (dataset)
    order by d.dataset
)

select * from final
