DROP INDEX "events_leaf_hash";--> statement-breakpoint
CREATE INDEX "events_leaf_hash" ON "events" USING btree ("leaf_hash","stream_id");