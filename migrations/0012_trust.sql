CREATE TABLE "witness_fork_evidence" (
	"id" text PRIMARY KEY NOT NULL,
	"origin" text NOT NULL,
	"kind" text NOT NULL,
	"held_size" bigint NOT NULL,
	"held_root" "bytea" NOT NULL,
	"held_note" text NOT NULL,
	"submitted" text NOT NULL,
	"dedupe_key" text NOT NULL,
	"detected_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "witness_progress" (
	"witness" text NOT NULL,
	"stream_id" text NOT NULL,
	"tree_size" bigint NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "witness_progress_witness_stream_id_pk" PRIMARY KEY("witness","stream_id")
);
--> statement-breakpoint
CREATE TABLE "witnessed_logs" (
	"origin" text PRIMARY KEY NOT NULL,
	"verifier_keys" jsonb NOT NULL,
	"tree_size" bigint DEFAULT 0 NOT NULL,
	"root_hash" "bytea",
	"note" text DEFAULT '' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
DROP INDEX "stream_keys_current";--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "cosignatures" text DEFAULT '' NOT NULL;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "cosignature_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "witnessed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "stream_keys" ADD COLUMN "algorithm" smallint DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "witness_fork_evidence_dedupe" ON "witness_fork_evidence" USING btree ("origin","dedupe_key");--> statement-breakpoint
CREATE INDEX "witness_fork_evidence_origin" ON "witness_fork_evidence" USING btree ("origin","detected_at");--> statement-breakpoint
CREATE UNIQUE INDEX "stream_keys_current_by_algorithm" ON "stream_keys" USING btree ("stream_id","algorithm") WHERE "stream_keys"."retired_at" IS NULL;