ALTER TABLE "uploads" DROP CONSTRAINT "uploads_project_sha256";--> statement-breakpoint
ALTER TABLE "uploads" ADD COLUMN "kind" text DEFAULT 'file' NOT NULL;--> statement-breakpoint
ALTER TABLE "uploads" ADD COLUMN "entries" integer;--> statement-breakpoint
ALTER TABLE "uploads" ADD COLUMN "unpacked_size" bigint;--> statement-breakpoint
ALTER TABLE "uploads" ADD CONSTRAINT "uploads_project_sha256_kind" UNIQUE("project","sha256","kind");