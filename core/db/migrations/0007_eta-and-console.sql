ALTER TABLE "build_steps" ADD COLUMN "bytes" bigint;--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "seconds_saved_cache" real;--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "seconds_saved_cache_estimated" real;--> statement-breakpoint
ALTER TABLE "builds" ADD COLUMN "estimate" jsonb;