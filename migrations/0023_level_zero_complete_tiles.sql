-- Level 0 stores complete tiles only: its incomplete tile is the leaf hashes of its events, read from events.
-- Incomplete level-0 rows written before are never read again (readers take level-0 rows of 256 hashes only); this frees them.
DELETE FROM "tiles" WHERE "level" = 0 AND length("hashes") < 8192;
