-- The database that holds every cascadewatch table and view. `{db}` is substituted by the
-- loader (pipeline.sinks.clickhouse.Store.apply_schema), default "cascadewatch".
CREATE DATABASE IF NOT EXISTS {db};
