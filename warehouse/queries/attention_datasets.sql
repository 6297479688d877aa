-- The datasets of one run's attention results: items, whether pairs, which covariates are present, and which
-- encoder the attention came from (attention_encoders: pretrained, or fine-tuned with its epochs, train pairs and
-- test Pearson r). $run_id
with items as (
    select dataset, count(*) as n_items, bool_and(is_pair) as is_pair,
           count(score) > 0 as has_score, count(structure) > 0 as has_structure
    from attention_items
    where run_id = $run_id
    group by dataset
),

final as (
    select i.*, d.label_kind, coalesce(e.encoder, 'pretrained') as encoder, e.head as encoder_head,
           e.epochs as encoder_epochs, e.n_train as encoder_n_train, e.n_test as encoder_n_test,
           e.losses as encoder_losses, e.pearson as encoder_pearson, e.spearman as encoder_spearman
    from items i
    join datasets d using (dataset)
    left join attention_encoders e on e.run_id = $run_id and e.dataset = i.dataset
    order by i.is_pair desc, i.dataset
)

select * from final
