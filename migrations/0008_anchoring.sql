CREATE TABLE "anchor_batches" (
	"id" text PRIMARY KEY NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"chain_id" bigint NOT NULL,
	"root" "bytea" NOT NULL,
	"member_count" integer NOT NULL,
	"nonce" bigint,
	"tx_hash" text,
	"broadcast_at" timestamp with time zone,
	"block_number" bigint,
	"block_hash" text,
	"block_time" timestamp with time zone,
	"confirmation_rule" text,
	"confirmations" integer DEFAULT 0 NOT NULL,
	"failure_reason" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"submitted_at" timestamp with time zone,
	"confirmed_at" timestamp with time zone,
	"failed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "anchor_keys" (
	"slot" text PRIMARY KEY NOT NULL,
	"address" text NOT NULL,
	"private_key_enc" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "anchor_members" (
	"batch_id" text NOT NULL,
	"leaf_index" integer NOT NULL,
	"tenant_id" text NOT NULL,
	"stream_id" text NOT NULL,
	"tree_size" bigint NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"note" text NOT NULL,
	"audit_path" "bytea" NOT NULL,
	"previous_tree_size" bigint NOT NULL,
	"consistency_proof" "bytea" NOT NULL,
	CONSTRAINT "anchor_members_batch_id_leaf_index_pk" PRIMARY KEY("batch_id","leaf_index")
);
--> statement-breakpoint
CREATE TABLE "anchor_transactions" (
	"tx_hash" text PRIMARY KEY NOT NULL,
	"batch_id" text NOT NULL,
	"chain_id" bigint NOT NULL,
	"sender" text NOT NULL,
	"nonce" bigint NOT NULL,
	"raw_tx" text NOT NULL,
	"max_fee_per_gas" text NOT NULL,
	"max_priority_fee_per_gas" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "anchor_members" ADD CONSTRAINT "anchor_members_batch_id_anchor_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."anchor_batches"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "anchor_transactions" ADD CONSTRAINT "anchor_transactions_batch_id_anchor_batches_id_fk" FOREIGN KEY ("batch_id") REFERENCES "public"."anchor_batches"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "anchor_batches_status" ON "anchor_batches" USING btree ("status","id");--> statement-breakpoint
CREATE INDEX "anchor_members_stream" ON "anchor_members" USING btree ("stream_id","tree_size");--> statement-breakpoint
CREATE INDEX "anchor_members_tenant" ON "anchor_members" USING btree ("tenant_id","batch_id");--> statement-breakpoint
CREATE INDEX "anchor_transactions_batch" ON "anchor_transactions" USING btree ("batch_id");--> statement-breakpoint
CREATE INDEX "anchor_transactions_nonce" ON "anchor_transactions" USING btree ("chain_id","sender","nonce");