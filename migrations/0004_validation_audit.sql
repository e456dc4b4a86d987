CREATE TABLE "validation_audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"source" text NOT NULL,
	"identifier_hash" text NOT NULL,
	"valid" boolean NOT NULL,
	"error_code" text,
	"latency_ms" integer NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "validation_audit_tenant_time" ON "validation_audit" USING btree ("tenant_id","occurred_at");