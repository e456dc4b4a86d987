ALTER TABLE "checkpoints" ADD COLUMN "timestamp_token" "bytea";--> statement-breakpoint
ALTER TABLE "checkpoints" ADD COLUMN "timestamped_at" timestamp with time zone;