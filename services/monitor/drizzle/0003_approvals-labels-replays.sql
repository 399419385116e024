CREATE TABLE "approval_refusals" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "approval_refusals_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"approval_id" text NOT NULL,
	"decision" text NOT NULL,
	"by" text NOT NULL,
	"reason" text NOT NULL,
	"message" text NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "labels" (
	"call_id" text PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	"note" text DEFAULT '' NOT NULL,
	"labeled_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "labels_label_check" CHECK ("labels"."label" in ('should_block', 'fine'))
);
--> statement-breakpoint
CREATE TABLE "replay_reports" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"report" jsonb NOT NULL
);
--> statement-breakpoint
ALTER TABLE "labels" ADD CONSTRAINT "labels_call_id_calls_call_id_fk" FOREIGN KEY ("call_id") REFERENCES "public"."calls"("call_id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "approval_refusals_approval_id_idx" ON "approval_refusals" USING btree ("approval_id");--> statement-breakpoint
CREATE INDEX "replay_reports_created_at_idx" ON "replay_reports" USING btree ("created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "events_approval_id_idx" ON "events" USING btree (("data"->>'approvalId')) WHERE "events"."type" like 'approval.%';