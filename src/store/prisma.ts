// Prisma Client over the same pool as the raw SQL: typed reads for the API, Studio for people.
import { PrismaMariaDb } from '@prisma/adapter-mariadb';
import { PrismaClient } from '../generated/prisma/client';
import type { Pool } from './db';

export type Prisma = InstanceType<typeof PrismaClient>;

export function createPrisma(pool: Pool, database: string): Prisma {
  return new PrismaClient({ adapter: new PrismaMariaDb(pool, { database }) });
}
