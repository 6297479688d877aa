-- Columns and their descriptions
-- Every column of every table with its type and the description stored as a COMMENT in the file.
with final as (
    select table_name, column_name, data_type, comment
    from duckdb_columns()
    where database_name = current_database() and not internal
    order by table_name, column_index
)

select * from final
