// All tables, for drizzle's typed client and drizzle-kit.
export * from './uploads.ts';
export * from './builds.ts';
export * from './templates.ts';
export * from './projects.ts';
export * from './webhooks.ts';
export * from './images.ts';
export * from './compositions.ts';
