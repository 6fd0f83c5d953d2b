-- AlterTable
ALTER TABLE "MeshState" ADD COLUMN     "meshId" UUID NOT NULL DEFAULT gen_random_uuid();
