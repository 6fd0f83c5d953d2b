-- CreateTable
CREATE TABLE "ControlReplica" (
    "id" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL,
    "heartbeatAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "ControlReplica_pkey" PRIMARY KEY ("id")
);
