CREATE TABLE "analyzer_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"trigger" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"decisions" jsonb,
	"summary" text
);
--> statement-breakpoint
CREATE TABLE "templates" (
	"id" uuid PRIMARY KEY NOT NULL,
	"root" text NOT NULL,
	"component_key" text NOT NULL,
	"components" jsonb NOT NULL,
	"parent_id" uuid,
	"image_ref" text NOT NULL,
	"digest" text,
	"size_bytes" bigint,
	"status" text DEFAULT 'building' NOT NULL,
	"build_seconds" real,
	"hits" integer DEFAULT 0 NOT NULL,
	"seconds_saved" real DEFAULT 0 NOT NULL,
	"last_hit_at" timestamp with time zone,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ready_at" timestamp with time zone,
	"retired_at" timestamp with time zone,
	"image_deleted_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "template_id" uuid;--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "seconds_saved" real;--> statement-breakpoint
ALTER TABLE "templates" ADD CONSTRAINT "templates_parent_id_templates_id_fk" FOREIGN KEY ("parent_id") REFERENCES "public"."templates"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "templates_status" ON "templates" USING btree ("status");--> statement-breakpoint
CREATE INDEX "templates_root_key" ON "templates" USING btree ("root","component_key");