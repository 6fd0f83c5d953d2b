-- CreateTable
CREATE TABLE "MeshState" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "revision" INTEGER NOT NULL DEFAULT 0,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MeshState_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Service" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "protocol" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "labels" JSONB NOT NULL,
    "description" TEXT NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Service_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Endpoint" (
    "id" UUID NOT NULL,
    "serviceId" UUID NOT NULL,
    "address" TEXT NOT NULL,
    "port" INTEGER NOT NULL,
    "labels" JSONB NOT NULL,
    "zone" TEXT NOT NULL,
    "weight" INTEGER NOT NULL,
    "health" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "ttlSeconds" INTEGER NOT NULL,
    "lastSeen" TIMESTAMPTZ(3) NOT NULL,
    "expiresAt" TIMESTAMPTZ(3),
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "Endpoint_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RouteRule" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "serviceId" UUID NOT NULL,
    "priority" INTEGER NOT NULL,
    "spec" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RouteRule_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TrafficPolicy" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "serviceId" UUID NOT NULL,
    "subsetKey" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TrafficPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "Revision" (
    "revision" INTEGER NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "summary" TEXT NOT NULL,
    "snapshot" JSONB NOT NULL,

    CONSTRAINT "Revision_pkey" PRIMARY KEY ("revision")
);

-- CreateTable
CREATE TABLE "AuditEntry" (
    "id" BIGSERIAL NOT NULL,
    "revision" INTEGER NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "resourceId" TEXT NOT NULL,
    "resourceName" TEXT NOT NULL,
    "before" JSONB,
    "after" JSONB,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Service_name_key" ON "Service"("name");

-- CreateIndex
CREATE INDEX "Endpoint_expiresAt_idx" ON "Endpoint"("expiresAt");

-- CreateIndex
CREATE UNIQUE INDEX "Endpoint_serviceId_address_port_key" ON "Endpoint"("serviceId", "address", "port");

-- CreateIndex
CREATE UNIQUE INDEX "RouteRule_name_key" ON "RouteRule"("name");

-- CreateIndex
CREATE INDEX "RouteRule_serviceId_priority_idx" ON "RouteRule"("serviceId", "priority");

-- CreateIndex
CREATE UNIQUE INDEX "TrafficPolicy_name_key" ON "TrafficPolicy"("name");

-- CreateIndex
CREATE UNIQUE INDEX "TrafficPolicy_serviceId_subsetKey_key" ON "TrafficPolicy"("serviceId", "subsetKey");

-- CreateIndex
CREATE INDEX "AuditEntry_revision_idx" ON "AuditEntry"("revision");

-- CreateIndex
CREATE INDEX "AuditEntry_kind_resourceName_idx" ON "AuditEntry"("kind", "resourceName");

-- AddForeignKey
ALTER TABLE "Endpoint" ADD CONSTRAINT "Endpoint_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "RouteRule" ADD CONSTRAINT "RouteRule_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrafficPolicy" ADD CONSTRAINT "TrafficPolicy_serviceId_fkey" FOREIGN KEY ("serviceId") REFERENCES "Service"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "AuditEntry" ADD CONSTRAINT "AuditEntry_revision_fkey" FOREIGN KEY ("revision") REFERENCES "Revision"("revision") ON DELETE CASCADE ON UPDATE CASCADE;

-- The single mesh-state row that every change locks and increments.
INSERT INTO "MeshState" ("id", "revision") VALUES (1, 0);
