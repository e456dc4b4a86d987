DROP INDEX "connectors_tenant_request";--> statement-breakpoint
ALTER TABLE "connectors" DROP COLUMN "request_id";