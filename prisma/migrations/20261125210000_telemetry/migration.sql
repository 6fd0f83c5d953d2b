-- CreateTable
CREATE TABLE "TelemetryEdgeBucket" (
    "source" TEXT NOT NULL,
    "destination" TEXT NOT NULL,
    "reporter" TEXT NOT NULL,
    "resolution" INTEGER NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "requests" BIGINT NOT NULL,
    "status1xx" BIGINT NOT NULL,
    "status2xx" BIGINT NOT NULL,
    "status3xx" BIGINT NOT NULL,
    "status4xx" BIGINT NOT NULL,
    "status5xx" BIGINT NOT NULL,
    "errors" BIGINT NOT NULL,
    "bytesIn" BIGINT NOT NULL,
    "bytesOut" BIGINT NOT NULL,
    "retries" BIGINT NOT NULL,
    "overflows" BIGINT NOT NULL,
    "latency" JSONB NOT NULL,

    CONSTRAINT "TelemetryEdgeBucket_pkey" PRIMARY KEY ("source","destination","reporter","resolution","bucketStart")
);

-- CreateTable
CREATE TABLE "TelemetryServiceBucket" (
    "service" TEXT NOT NULL,
    "reporter" TEXT NOT NULL,
    "resolution" INTEGER NOT NULL,
    "bucketStart" TIMESTAMPTZ(3) NOT NULL,
    "requests" BIGINT NOT NULL,
    "status1xx" BIGINT NOT NULL,
    "status2xx" BIGINT NOT NULL,
    "status3xx" BIGINT NOT NULL,
    "status4xx" BIGINT NOT NULL,
    "status5xx" BIGINT NOT NULL,
    "errors" BIGINT NOT NULL,
    "bytesIn" BIGINT NOT NULL,
    "bytesOut" BIGINT NOT NULL,
    "retries" BIGINT NOT NULL,
    "overflows" BIGINT NOT NULL,
    "latency" JSONB NOT NULL,

    CONSTRAINT "TelemetryServiceBucket_pkey" PRIMARY KEY ("service","reporter","resolution","bucketStart")
);

-- CreateIndex
CREATE INDEX "TelemetryEdgeBucket_resolution_bucketStart_idx" ON "TelemetryEdgeBucket"("resolution", "bucketStart");

-- CreateIndex
CREATE INDEX "TelemetryServiceBucket_resolution_bucketStart_idx" ON "TelemetryServiceBucket"("resolution", "bucketStart");
