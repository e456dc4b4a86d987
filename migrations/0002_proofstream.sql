CREATE TABLE "checkpoints" (
	"stream_id" text NOT NULL,
	"tree_size" bigint NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"note" text NOT NULL,
	"key_id" integer NOT NULL,
	"signed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "checkpoints_stream_id_tree_size_pk" PRIMARY KEY("stream_id","tree_size")
);
--> statement-breakpoint
CREATE TABLE "events" (
	"stream_id" text NOT NULL,
	"seq_no" bigint NOT NULL,
	"source_ref" text NOT NULL,
	"event_type" text NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL,
	"payload" jsonb NOT NULL,
	"payload_sha256" text NOT NULL,
	"leaf" "bytea" NOT NULL,
	"leaf_hash" "bytea" NOT NULL,
	CONSTRAINT "events_stream_id_seq_no_pk" PRIMARY KEY("stream_id","seq_no")
);
--> statement-breakpoint
CREATE TABLE "fork_evidence" (
	"id" text PRIMARY KEY NOT NULL,
	"stream_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"kind" text NOT NULL,
	"source" text NOT NULL,
	"source_detail" text DEFAULT '' NOT NULL,
	"history_note" text NOT NULL,
	"conflicting_note" text DEFAULT '' NOT NULL,
	"history_size" bigint NOT NULL,
	"conflicting_size" bigint NOT NULL,
	"history_root" "bytea" NOT NULL,
	"conflicting_root" "bytea" NOT NULL,
	"proof_attempt" jsonb NOT NULL,
	"dedupe_key" text NOT NULL,
	"detected_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "stream_keys" (
	"stream_id" text NOT NULL,
	"key_id" integer NOT NULL,
	"public_key" "bytea" NOT NULL,
	"private_key_enc" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "stream_keys_stream_id_key_id_pk" PRIMARY KEY("stream_id","key_id")
);
--> statement-breakpoint
CREATE TABLE "streams" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"name" text NOT NULL,
	"origin" text NOT NULL,
	"tree_size" bigint DEFAULT 0 NOT NULL,
	"checkpoint_size" bigint DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tiles" (
	"stream_id" text NOT NULL,
	"level" smallint NOT NULL,
	"idx" bigint NOT NULL,
	"hashes" "bytea" NOT NULL,
	CONSTRAINT "tiles_stream_id_level_idx_pk" PRIMARY KEY("stream_id","level","idx")
);
--> statement-breakpoint
ALTER TABLE "checkpoints" ADD CONSTRAINT "checkpoints_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "events" ADD CONSTRAINT "events_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "fork_evidence" ADD CONSTRAINT "fork_evidence_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "stream_keys" ADD CONSTRAINT "stream_keys_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "streams" ADD CONSTRAINT "streams_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tiles" ADD CONSTRAINT "tiles_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "events_source_ref" ON "events" USING btree ("stream_id","source_ref");--> statement-breakpoint
CREATE INDEX "events_leaf_hash" ON "events" USING btree ("stream_id","leaf_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "fork_evidence_dedupe" ON "fork_evidence" USING btree ("stream_id","dedupe_key");--> statement-breakpoint
CREATE INDEX "fork_evidence_tenant" ON "fork_evidence" USING btree ("tenant_id","id");--> statement-breakpoint
CREATE UNIQUE INDEX "stream_keys_current" ON "stream_keys" USING btree ("stream_id") WHERE "stream_keys"."retired_at" IS NULL;--> statement-breakpoint
CREATE INDEX "streams_tenant" ON "streams" USING btree ("tenant_id","id");