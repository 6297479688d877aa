-- The most distant $share of each dataset's sentences in one layer and pooling (by mean Euclidean distance to
-- the dataset's other sentences, sentence_distances): ceil($share x n) per dataset, most distant first, ties to
-- the lower sentence id. What the drift and illusion-score pages leave out to check that outliers do not drive
-- the illusion (Bolukbasi et al. 2021, Section 5.2.2).
-- $run_id, $layer, $pooling, $datasets (varchar[]), $share (0..1)
with ranked as (
    select
        dataset, sentence_id, mean_distance,
        row_number() over (partition by dataset order by mean_distance desc, sentence_id) as r,
        count(*) over (partition by dataset) as n
    from sentence_distances
    where run_id = $run_id and layer = $layer and pooling = $pooling and list_contains($datasets, dataset)
),

final as (
    select dataset, sentence_id, mean_distance
    from ranked
    where r <= ceil($share * n)
    order by dataset, r
)

select * from final
