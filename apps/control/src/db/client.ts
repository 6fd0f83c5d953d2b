/** The Prisma client over node-postgres (Prisma 7's driver adapter: no query engine binary at run time). */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../generated/prisma/client.ts';

export type Db = PrismaClient;
export { Prisma } from '../../generated/prisma/client.ts';

export function createDb(connectionString: string): Db {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString, max: 10, connectionTimeoutMillis: 5000 }),
  });
}
