CREATE TABLE "deployment_settings" (
	"queue_prefix" text NOT NULL,
	"key_check" text NOT NULL,
	"settings" jsonb NOT NULL,
	"written_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "deployment_settings_queue_prefix_key_check_pk" PRIMARY KEY("queue_prefix","key_check")
);
