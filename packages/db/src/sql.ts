import pg from "pg";

export type SqlPool = pg.Pool;

/** PostgreSQL's OID for `timestamp without time zone`, the type Prisma gives DateTime columns. */
const TIMESTAMP_OID = 1114;

/** Prisma stores DateTime columns as UTC wall-clock time without a zone: read them back as UTC, whatever TZ the process has. */
function parseUtcTimestamp(value: string): Date {
  return new Date(`${value.replace(" ", "T")}Z`);
}

const types = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === TIMESTAMP_OID && format !== "binary"
      ? parseUtcTimestamp
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * A plain node-postgres pool for the few hot-path statements (one job by id, a job with its
 * first event) that Prisma's query client makes several times dearer in CPU. Rows come back
 * with Prisma's column names and types (jsonb parsed, text[] as arrays, DateTime as UTC).
 */
export function createSqlPool(databaseUrl: string, options: { poolSize?: number } = {}): SqlPool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.poolSize ?? 10, types });
  // An idle client that loses its connection emits on the pool; the next query gets a fresh one.
  pool.on("error", () => undefined);
  return pool;
}
