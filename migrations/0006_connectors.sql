CREATE TABLE "connector_stats" (
	"connector_id" text PRIMARY KEY NOT NULL,
	"accepted_count" bigint DEFAULT 0 NOT NULL,
	"duplicate_count" bigint DEFAULT 0 NOT NULL,
	"auth_failure_count" bigint DEFAULT 0 NOT NULL,
	"replay_conflict_count" bigint DEFAULT 0 NOT NULL,
	"rejected_count" bigint DEFAULT 0 NOT NULL,
	"ping_count" bigint DEFAULT 0 NOT NULL,
	"ignored_count" bigint DEFAULT 0 NOT NULL,
	"status" text,
	"status_at" timestamp with time zone,
	"last_success_at" timestamp with time zone,
	"last_success_kind" text,
	"last_failure_at" timestamp with time zone,
	"last_failure_reason" text
);
--> statement-breakpoint
CREATE TABLE "connectors" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"stream_id" text NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"settings" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"secret_enc" "bytea",
	"secret_rotated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"previous_secret_enc" "bytea",
	"previous_secret_expires_at" timestamp with time zone,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "connector_stats" ADD CONSTRAINT "connector_stats_connector_id_connectors_id_fk" FOREIGN KEY ("connector_id") REFERENCES "public"."connectors"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "connectors" ADD CONSTRAINT "connectors_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "connectors" ADD CONSTRAINT "connectors_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "connectors_tenant" ON "connectors" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "connectors_tenant_request" ON "connectors" USING btree ("tenant_id","request_id") WHERE "connectors"."request_id" IS NOT NULL;