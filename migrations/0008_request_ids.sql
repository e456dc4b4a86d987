CREATE TABLE "request_ids" (
	"scope" text NOT NULL,
	"method" text NOT NULL,
	"request_id" text NOT NULL,
	"fingerprint" text NOT NULL,
	"resource_id" text NOT NULL,
	"secret_enc" "bytea",
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "request_ids_scope_method_request_id_pk" PRIMARY KEY("scope","method","request_id")
);
