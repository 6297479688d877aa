-- How many sentences per neuron, dataset and side neuron_topk holds (the build's topk setting).
with final as (
    select cast(json_extract(value, '$.topk') as integer) as topk from meta where key = 'config_json'
)

select * from final
