-- One layer's 2-D points with their stored clusters, covariates and texts. $run_id $dataset $layer
with points as (
    select sentence_id, sx, sy, ax, ay, cluster_summary, cluster_autoencoder
    from attention_points
    where run_id = $run_id and dataset = $dataset and layer = $layer
),

items as (
    select sentence_id, n_tokens as length, score, structure, split
    from attention_items
    where run_id = $run_id and dataset = $dataset
),

final as (
    select p.*, i.length, i.score, i.structure, i.split, s.text, s.text_b
    from points p
    join items i using (sentence_id)
    join sentences s on s.dataset = $dataset and s.sentence_id = p.sentence_id
    order by p.sentence_id
)

select * from final
