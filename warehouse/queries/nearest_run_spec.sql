-- What re-runs a stored run's model on new text: its kind, path and spec (the config's model section). $run_id
with final as (
    select run_id, model_kind, model_path, spec_json
    from runs
    where run_id = $run_id
)

select * from final
