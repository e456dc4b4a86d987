CREATE TABLE "deployment_settings" (
	"queue_prefix" text NOT NULL,
	"key_check" text NOT NULL,
	"settings" jsonb NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "deployment_settings_queue_prefix_key_check_pk" PRIMARY KEY("queue_prefix","key_check")
);
--> statement-breakpoint
CREATE TABLE "bundle_share_links" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"bundle_id" text NOT NULL,
	"token_sha256" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "bundle_share_links" ADD CONSTRAINT "bundle_share_links_bundle_id_bundles_id_fk" FOREIGN KEY ("bundle_id") REFERENCES "public"."bundles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "bundle_share_links_token" ON "bundle_share_links" USING btree ("token_sha256");--> statement-breakpoint
CREATE INDEX "bundle_share_links_tenant" ON "bundle_share_links" USING btree ("tenant_id","id");