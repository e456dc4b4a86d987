DROP INDEX "webhook_deliveries_due";--> statement-breakpoint
CREATE INDEX "webhook_deliveries_next_attempt" ON "webhook_deliveries" USING btree ("next_attempt_at") WHERE "webhook_deliveries"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "webhook_deliveries_unenqueued" ON "webhook_deliveries" USING btree ("id") WHERE "webhook_deliveries"."enqueued_at" IS NULL;--> statement-breakpoint
-- Room on each page for the claim update to stay there (HOT): claims change no indexed column.
ALTER TABLE "webhook_deliveries" SET (fillfactor = 70);
