CREATE TABLE "template_steps" (
	"template_id" uuid NOT NULL,
	"position" integer NOT NULL,
	"component" text NOT NULL,
	"recipe_hash" text,
	"seconds" real NOT NULL,
	"cached" boolean NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "template_steps_template_id_position_pk" PRIMARY KEY("template_id","position")
);
--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "seconds_saved_estimated" real;--> statement-breakpoint
ALTER TABLE "templates" ADD COLUMN "seconds_saved_estimated" real DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "template_steps" ADD CONSTRAINT "template_steps_template_id_templates_id_fk" FOREIGN KEY ("template_id") REFERENCES "public"."templates"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "template_steps_component" ON "template_steps" USING btree ("component");