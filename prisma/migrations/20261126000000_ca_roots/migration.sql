-- CreateTable
CREATE TABLE "CaRoot" (
    "id" UUID NOT NULL,
    "certPem" TEXT NOT NULL,
    "keyCiphertext" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL,
    "notAfter" TIMESTAMPTZ(3) NOT NULL,
    "trustUntil" TIMESTAMPTZ(3) NOT NULL,
    "active" BOOLEAN NOT NULL,

    CONSTRAINT "CaRoot_pkey" PRIMARY KEY ("id")
);
