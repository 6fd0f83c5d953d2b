-- DNS discovery (packages/schema/src/service.ts): where a service's "dns" endpoints come from; NULL: none.
ALTER TABLE "Service" ADD COLUMN "dns" JSONB;
