CREATE TABLE "google_acknowledgements" (
	"tenant_id" text NOT NULL,
	"purchase_token" text NOT NULL,
	"kind" text NOT NULL,
	"product_id" text NOT NULL,
	"order_id" text DEFAULT '' NOT NULL,
	"automatic" boolean NOT NULL,
	"acknowledged_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "store_sync_cursors" (
	"tenant_id" text NOT NULL,
	"cursor" text NOT NULL,
	"synced_to" timestamp with time zone NOT NULL,
	"last_run_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "google_credentials" ADD COLUMN "auto_acknowledge" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "store_notifications" ADD COLUMN "arrival" text DEFAULT 'pushed' NOT NULL;--> statement-breakpoint
ALTER TABLE "google_acknowledgements" ADD CONSTRAINT "google_acknowledgements_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "store_sync_cursors" ADD CONSTRAINT "store_sync_cursors_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "google_acknowledgements_token" ON "google_acknowledgements" USING btree ("tenant_id","purchase_token","product_id");--> statement-breakpoint
CREATE UNIQUE INDEX "store_sync_cursors_key" ON "store_sync_cursors" USING btree ("tenant_id","cursor");