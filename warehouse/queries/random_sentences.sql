-- The first $k sentences of each chosen dataset's stored random draw (random_sentences), in draw order.
-- $run_id, $k, $datasets (varchar[])
with final as (
    select dataset, unnest(range(1, len(sentence_ids[1:$k]) + 1)) as draw, unnest(sentence_ids[1:$k]) as sentence_id
    from random_sentences
    where run_id = $run_id and list_contains($datasets, dataset)
    order by dataset, draw
)

select * from final
