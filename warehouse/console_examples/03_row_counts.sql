-- Row counts per table
-- estimated_size is the row count DuckDB stores with each table (exact here: the warehouse is written
-- once and never updated); comment is the table's description.
with final as (
    select table_name, estimated_size as n_rows, column_count, comment
    from duckdb_tables()
    where database_name = current_database() and not internal
    order by table_name
)

select * from final
