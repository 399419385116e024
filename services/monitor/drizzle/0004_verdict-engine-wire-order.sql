ALTER TABLE "events" ALTER COLUMN "data" SET DATA TYPE json USING "data"::json;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "engine" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "chain" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "config_version" text;--> statement-breakpoint
CREATE INDEX "calls_latency_idx" ON "calls" USING btree ("latency_ms" DESC NULLS LAST,"call_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "calls_ttft_idx" ON "calls" USING btree ("ttft_ms" DESC NULLS LAST,"call_id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "calls_cost_idx" ON "calls" USING btree ("cost_usd" DESC NULLS LAST,"call_id" DESC NULLS LAST);