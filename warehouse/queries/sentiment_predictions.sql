-- Per test sentence and feature set: the label, P(positive) clean and under each attack, and the text.
-- $run_id, $dataset, $penalty
with preds as (
    select feature, attack, sentence_id, p_positive
    from sentiment_predictions
    where run_id = $run_id and dataset = $dataset and penalty = $penalty
),

labels as (
    select sentence_id, y, is_long
    from sentiment_labels
    where run_id = $run_id and dataset = $dataset and split = 'test'
),

final as (
    select p.feature, p.attack, p.sentence_id, l.y, l.is_long, p.p_positive, s.text
    from preds p
    join labels l using (sentence_id)
    join sentences s on s.dataset = $dataset and s.sentence_id = p.sentence_id
    order by p.feature, p.attack, p.sentence_id
)

select * from final
