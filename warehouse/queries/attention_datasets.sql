-- The datasets of one run's attention results: items, whether pairs, and which covariates are present. $run_id
with items as (
    select dataset, count(*) as n_items, bool_and(is_pair) as is_pair,
           count(score) > 0 as has_score, count(structure) > 0 as has_structure
    from attention_items
    where run_id = $run_id
    group by dataset
),

final as (
    select i.*, d.label_kind
    from items i
    join datasets d using (dataset)
    order by i.is_pair desc, i.dataset
)

select * from final
