import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@trainyard/db";
import { newId } from "@trainyard/shared";

/** The key of an `Authorization: Bearer <key>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  return authorization?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? null;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** Creates the tenant if needed and a new key for it; the key is returned once and never stored. */
export async function createApiKey(db: Db, tenantName: string): Promise<{ tenantId: string; key: string }> {
  const tenant = await db.tenant.upsert({
    where: { name: tenantName },
    create: { id: newId("ten"), name: tenantName },
    update: {},
  });
  const key = `ty_${randomBytes(24).toString("base64url")}`;
  await db.apiKey.create({ data: { id: newId("key"), tenantId: tenant.id, keyHash: hashApiKey(key), prefix: key.slice(0, 7) } });
  return { tenantId: tenant.id, key };
}

export async function tenantForApiKey(db: Db, key: string): Promise<string | null> {
  const record = await db.apiKey.findUnique({ where: { keyHash: hashApiKey(key) } });
  if (!record || record.revokedAt) return null;
  return record.tenantId;
}
