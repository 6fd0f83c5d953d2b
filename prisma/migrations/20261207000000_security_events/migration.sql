-- The security log (packages/schema/src/security-events.ts): joins, identities issued, sign-ins and changes to
-- users and tokens. No revision: these events change no mesh configuration.
CREATE TABLE "SecurityEvent" (
    "id" BIGSERIAL NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "service" TEXT,
    "remote" TEXT,
    "outcome" TEXT NOT NULL,
    "detail" JSONB,

    CONSTRAINT "SecurityEvent_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "SecurityEvent_action_idx" ON "SecurityEvent"("action");
CREATE INDEX "SecurityEvent_service_idx" ON "SecurityEvent"("service");
