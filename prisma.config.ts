/** Prisma CLI settings: where the schema and migrations live, and the database URL (only the CLI reads this file). */
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://postgres:trellis@127.0.0.1:54329/trellis' },
});
