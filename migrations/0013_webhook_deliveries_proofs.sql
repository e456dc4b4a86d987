CREATE TABLE "webhook_delivery_streams" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"stream_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "webhook_attempts" ADD COLUMN "seq_no" bigint;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "max_deliveries_per_second" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "consecutive_failed_deliveries" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "failing_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_delivery_streams" ADD CONSTRAINT "webhook_delivery_streams_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_attempts_unrecorded" ON "webhook_attempts" USING btree ("finished_at") WHERE "webhook_attempts"."seq_no" IS NULL;