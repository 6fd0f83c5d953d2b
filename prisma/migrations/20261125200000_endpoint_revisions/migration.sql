-- AlterTable
ALTER TABLE "Service" ADD COLUMN     "dependencies" JSONB;

-- AlterTable
ALTER TABLE "Revision" ADD COLUMN     "endpoints" JSONB,
ADD COLUMN     "kind" TEXT NOT NULL DEFAULT 'config',
ALTER COLUMN "snapshot" DROP NOT NULL;
