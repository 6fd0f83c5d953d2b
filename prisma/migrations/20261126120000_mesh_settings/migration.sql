-- Mesh settings, on the one MeshState row: the mesh-wide mutual TLS mode and the settings' own version.
ALTER TABLE "MeshState" ADD COLUMN "mtlsMode" TEXT NOT NULL DEFAULT 'permissive',
ADD COLUMN "settingsVersion" INTEGER NOT NULL DEFAULT 1,
ADD COLUMN "settingsUpdatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP;
