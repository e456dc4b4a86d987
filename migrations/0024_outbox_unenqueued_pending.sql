-- The outbox poller reads this index alone, in id order, up to its LIMIT: its predicate is now the poller's whole WHERE.
-- On enqueued_at IS NULL alone the planner ANDed it with the pending index as bitmaps (every entry of both, every heap page, a sort).
DROP INDEX "webhook_deliveries_unenqueued";--> statement-breakpoint
CREATE INDEX "webhook_deliveries_unenqueued" ON "webhook_deliveries" USING btree ("id") WHERE "webhook_deliveries"."enqueued_at" IS NULL AND "webhook_deliveries"."status" = 'pending';