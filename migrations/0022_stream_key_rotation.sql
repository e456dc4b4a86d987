CREATE TABLE "stream_key_rotations" (
	"stream_id" text NOT NULL,
	"generation" integer NOT NULL,
	"takes_over_after" bigint NOT NULL,
	"statement" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "stream_key_rotations_stream_id_generation_pk" PRIMARY KEY("stream_id","generation")
);
--> statement-breakpoint
ALTER TABLE "stream_keys" ADD COLUMN "generation" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "streams" ADD COLUMN "key_generation" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "stream_key_rotations" ADD CONSTRAINT "stream_key_rotations_stream_id_streams_id_fk" FOREIGN KEY ("stream_id") REFERENCES "public"."streams"("id") ON DELETE no action ON UPDATE no action;