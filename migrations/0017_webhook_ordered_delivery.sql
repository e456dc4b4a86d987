CREATE SEQUENCE "public"."webhook_delivery_ordering_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "ordering_key" text;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "ordering_seq" bigint;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "held_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD COLUMN "released_after_bound_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "ordered" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "webhook_subscriptions" ADD COLUMN "ordering_bound_seconds" integer DEFAULT 600 NOT NULL;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_ordering" ON "webhook_deliveries" USING btree ("subscription_id","ordering_key","ordering_seq") WHERE "webhook_deliveries"."status" = 'pending' AND "webhook_deliveries"."ordering_key" IS NOT NULL;