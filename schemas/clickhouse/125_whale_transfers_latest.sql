-- whale_transfers_latest: each transfer once, as its latest copy says (the one observed last). Under FINAL
-- a re-observation replaces the row with the same key, but a reorg that re-mines the transaction in a later
-- block gives the same event_id a new block_time, so a second key: the old copy stays beside the new one
-- (the watcher retracts only what the new chain does not hold). Flows are counted from this view.
CREATE OR REPLACE VIEW {db}.whale_transfers_latest AS
SELECT *
FROM {db}.whale_transfers FINAL
ORDER BY observed_ts DESC, inserted_at DESC
LIMIT 1 BY event_id;
