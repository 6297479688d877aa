-- Every neuron of one layer and pooling, one row per (dataset, unit), from the precomputed tables: its
-- histogram (neuron_histograms), its stored top and bottom sentences (neuron_topk) and its values on the stored
-- random sentences (random_sentences). The dashboard reads this once per layer and answers every neuron change
-- of that layer from memory. $run_id, $layer, $pooling
with extremes as (
    select dataset, unit, side, sentence_ids, vals
    from neuron_topk
    where run_id = $run_id and layer = $layer and pooling = $pooling
),

histograms as (
    select dataset, unit, lo, hi, counts, random_vals
    from neuron_histograms
    where run_id = $run_id and layer = $layer and pooling = $pooling
),

draws as (
    select dataset, sentence_ids as random_ids
    from random_sentences
    where run_id = $run_id
),

final as (
    select h.dataset, h.unit, h.lo, h.hi, h.counts,
           t.sentence_ids as top_ids, t.vals as top_vals, b.sentence_ids as bottom_ids, b.vals as bottom_vals,
           d.random_ids, h.random_vals
    from histograms h
    join extremes t on t.dataset = h.dataset and t.unit = h.unit and t.side = 'top'
    join extremes b on b.dataset = h.dataset and b.unit = h.unit and b.side = 'bottom'
    join draws d on d.dataset = h.dataset
    order by h.dataset, h.unit
)

select * from final
