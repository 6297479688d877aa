-- Every column of every warehouse table and view with its type and description (the COMMENT of the schema files).
with columns as (
    select table_name, column_index, column_name, data_type, comment
    from duckdb_columns()
    where database_name = current_database() and schema_name = 'main' and not internal
),

final as (
    select table_name, column_name, data_type, comment from columns order by table_name, column_index
)

select * from final
