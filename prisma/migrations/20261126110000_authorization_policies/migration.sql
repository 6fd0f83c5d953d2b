-- CreateTable
CREATE TABLE "AuthorizationPolicy" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "AuthorizationPolicy_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "AuthorizationPolicy_name_key" ON "AuthorizationPolicy"("name");

-- CreateIndex
CREATE INDEX "AuthorizationPolicy_destination_idx" ON "AuthorizationPolicy"("destination");
