-- Stored UMAP coordinates of one run and pooling (the last layer), with the sentences. $run_id, $pooling
with final as (
    select u.layer, u.dataset, u.sentence_id, u.x, u.y, s.text
    from umap_coords u
    join sentences s using (dataset, sentence_id)
    where u.run_id = $run_id and u.pooling = $pooling
)

select * from final
