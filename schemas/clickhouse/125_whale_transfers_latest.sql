-- whale_transfers_latest: each transfer once, as its latest copy says (the one observed last). Under FINAL
-- a re-observation replaces the row with the same key, but a reorg that re-mines the transaction in a later
-- block gives the same event_id a new block_time, so a second key: the old copy stays beside the new one
-- (the watcher retracts only what the new chain does not hold). Flows are counted from this view.
-- The latest copy is picked on two narrow columns, so a query's filters on the outer rows (asset, time)
-- still reach the table's sort key; LIMIT 1 BY over whole rows would sort the table, raw included.
CREATE OR REPLACE VIEW {db}.whale_transfers_latest AS
SELECT *
FROM {db}.whale_transfers FINAL
WHERE (event_id, observed_ts) IN (
    SELECT event_id, max(observed_ts) FROM {db}.whale_transfers FINAL GROUP BY event_id
);
