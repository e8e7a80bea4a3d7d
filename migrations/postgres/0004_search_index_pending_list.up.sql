-- The search index (GIN) gathers new entries in a pending list and merges them into the index
-- when the list outgrows gin_pending_list_limit (4 MB by default), inside whichever insert
-- crosses it: under load, a 300 ms stall of one message batch every few seconds (p99.9 ack
-- 400-750 ms in docs/api.md's pipeline benchmark). A 64 kB list is merged a little at a time,
-- by every batch or two, and no batch waits for a large merge.
ALTER INDEX messages_search_idx SET (gin_pending_list_limit = 64);
