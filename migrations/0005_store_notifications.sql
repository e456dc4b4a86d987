CREATE TABLE "store_notifications" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"source" text NOT NULL,
	"external_id" text NOT NULL,
	"notification_type" text NOT NULL,
	"subtype" text DEFAULT '' NOT NULL,
	"environment" text DEFAULT '' NOT NULL,
	"app_id" text DEFAULT '' NOT NULL,
	"transaction_id" text DEFAULT '' NOT NULL,
	"original_transaction_id" text DEFAULT '' NOT NULL,
	"product_id" text DEFAULT '' NOT NULL,
	"purchase_token" text DEFAULT '' NOT NULL,
	"signed_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"payload" jsonb NOT NULL,
	"raw" text NOT NULL,
	"stream_id" text NOT NULL,
	"seq_no" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "store_streams" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"stream_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "google_credentials" ADD COLUMN "pubsub_push_email" text;--> statement-breakpoint
ALTER TABLE "store_notifications" ADD CONSTRAINT "store_notifications_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "store_streams" ADD CONSTRAINT "store_streams_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "store_notifications_external" ON "store_notifications" USING btree ("tenant_id","source","external_id");--> statement-breakpoint
CREATE INDEX "store_notifications_tenant_signed" ON "store_notifications" USING btree ("tenant_id","signed_at","id");