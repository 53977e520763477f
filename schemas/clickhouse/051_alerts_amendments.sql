-- Upgrade in place for an alerts table created before amendments, evidence and contagion links
-- existed (a no-op on a table made by 050_alerts.sql as it is now).
ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS revision UInt16 DEFAULT 0;
ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS amended UInt8 DEFAULT 0;
ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS evidence Nullable(String);
ALTER TABLE {db}.alerts ADD COLUMN IF NOT EXISTS linked_to Nullable(String);
