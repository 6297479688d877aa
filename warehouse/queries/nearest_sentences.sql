-- The k sentences nearest to one stored sentence by cosine similarity, per dataset, in one run, layer and
-- pooling; the query sentence itself is left out. Ties go to the lower sentence_id; sentences whose
-- similarity is undefined (a zero vector) are left out. Empty when the query sentence has no vector here.
-- $run_id, $layer, $pooling, $dataset + $sentence_id (the query sentence), $k, $datasets (varchar[])
-- Cosine similarity ignores a row's scale, so the int16 codes are compared as they are (activation_store).
with query as (
    select coalesce(floats, codes::float[]) as vec
    from activation_store
    where run_id = $run_id and layer = $layer and pooling = $pooling
      and dataset = $dataset and sentence_id = $sentence_id
),

scored as (
    select a.dataset, a.sentence_id, list_cosine_similarity(coalesce(a.floats, a.codes::float[]), q.vec) as similarity
    from activation_store a
    cross join query q
    where a.run_id = $run_id and a.layer = $layer and a.pooling = $pooling and list_contains($datasets, a.dataset)
      and not (a.dataset = $dataset and a.sentence_id = $sentence_id)
),

valid as (
    select * from scored where not isnan(similarity)
),

-- each dataset's k-th highest similarity: only the rows at or above it (the k, plus any tied with the k-th)
-- go through the window, instead of every row of the dataset
cutoffs as (
    select dataset, list_last(max(similarity, $k)) as cutoff
    from valid
    group by dataset
),

ranked as (
    select v.dataset, v.sentence_id, v.similarity,
           row_number() over (partition by v.dataset order by v.similarity desc, v.sentence_id) as rank
    from valid v
    join cutoffs c on v.dataset = c.dataset and v.similarity >= c.cutoff
    qualify rank <= $k
),

final as (
    select r.dataset, r.rank, r.sentence_id, r.similarity, s.text
    from ranked r
    join sentences s using (dataset, sentence_id)
    order by r.dataset, r.rank
)

select * from final
