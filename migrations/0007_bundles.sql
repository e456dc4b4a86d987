CREATE TABLE "bundle_chunks" (
	"bundle_id" text NOT NULL,
	"idx" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "bundle_chunks_bundle_id_idx_pk" PRIMARY KEY("bundle_id","idx")
);
--> statement-breakpoint
CREATE TABLE "bundles" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"stream_id" text NOT NULL,
	"from_seq_no" bigint NOT NULL,
	"to_seq_no" bigint NOT NULL,
	"include_payloads" boolean NOT NULL,
	"include_inclusion_proofs" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"events_done" bigint DEFAULT 0 NOT NULL,
	"checkpoint_size" bigint DEFAULT 0 NOT NULL,
	"size_bytes" bigint DEFAULT 0 NOT NULL,
	"failure_reason" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "bundle_chunks" ADD CONSTRAINT "bundle_chunks_bundle_id_bundles_id_fk" FOREIGN KEY ("bundle_id") REFERENCES "public"."bundles"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bundles" ADD CONSTRAINT "bundles_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "bundles_tenant" ON "bundles" USING btree ("tenant_id","id");