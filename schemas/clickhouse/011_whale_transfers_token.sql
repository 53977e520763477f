-- Upgrade in place for a whale_transfers table created before `token` existed (the ERC-20 moved, e.g.
-- WBTC, whose transfer is filed under the coin it wraps): a no-op on a table made by
-- 010_whale_transfers.sql as it is now.
ALTER TABLE {db}.whale_transfers ADD COLUMN IF NOT EXISTS token LowCardinality(Nullable(String)) AFTER asset;
