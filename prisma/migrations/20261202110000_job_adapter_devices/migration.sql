-- AlterTable
ALTER TABLE "Job" ADD COLUMN     "adapter" TEXT,
ADD COLUMN     "devices" TEXT[] DEFAULT ARRAY[]::TEXT[];
