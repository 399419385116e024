ALTER TABLE "calls" ADD COLUMN "owner" text;--> statement-breakpoint
ALTER TABLE "calls" ADD COLUMN "cost_usd" double precision;--> statement-breakpoint
CREATE INDEX "calls_owner_idx" ON "calls" USING btree ("owner");--> statement-breakpoint
CREATE INDEX "calls_session_id_idx" ON "calls" USING btree ("session_id","started_at");