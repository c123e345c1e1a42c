import { createHash, randomBytes } from "node:crypto";
import type { Db } from "@trainyard/db";
import { newId } from "@trainyard/shared";
import { notFound } from "../problems.ts";

/** The key of an `Authorization: Bearer <key>` header, or null. */
export function bearerToken(authorization: string | undefined): string | null {
  return authorization?.match(/^Bearer\s+(\S+)$/i)?.[1] ?? null;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** What GET /v1/keys shows of a key: never its secret or hash. */
const KEY_VIEW = { id: true, name: true, prefix: true, createdAt: true, lastUsedAt: true, revokedAt: true } as const;

type StoredKey = { id: string; name: string; prefix: string; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null };

export function apiKeyView(key: StoredKey) {
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    createdAt: key.createdAt.toISOString(),
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
  };
}

/** A new key of the tenant; the secret is returned once and only its hash is stored. */
export async function createTenantApiKey(db: Db, tenantId: string, name: string) {
  const key = `ty_${randomBytes(24).toString("base64url")}`;
  const stored = await db.apiKey.create({
    data: { id: newId("key"), tenantId, name, keyHash: hashApiKey(key), prefix: key.slice(0, 7) },
    select: KEY_VIEW,
  });
  return { ...apiKeyView(stored), key };
}

/** The operator's path (`trainyard keys create --tenant`): creates the tenant if needed and a key for it. */
export async function createApiKey(db: Db, tenantName: string, name = "default"): Promise<{ tenantId: string; key: string }> {
  const tenant = await db.tenant.upsert({
    where: { name: tenantName },
    create: { id: newId("ten"), name: tenantName },
    update: {},
  });
  const { key } = await createTenantApiKey(db, tenant.id, name);
  return { tenantId: tenant.id, key };
}

/** The tenant's keys, newest first, revoked ones included (with revokedAt). */
export async function listApiKeys(db: Db, tenantId: string) {
  const keys = await db.apiKey.findMany({ where: { tenantId }, orderBy: [{ createdAt: "desc" }, { id: "desc" }], select: KEY_VIEW });
  return keys.map(apiKeyView);
}

/**
 * Revokes a key of the tenant (again: no change). The ApiKey trigger notifies every API process,
 * whose caches drop the key before they answer their next request.
 */
export async function revokeApiKey(db: Db, tenantId: string, id: string): Promise<void> {
  const revoked = await db.apiKey.updateMany({ where: { id, tenantId, revokedAt: null }, data: { revokedAt: new Date() } });
  if (revoked.count === 0 && (await db.apiKey.count({ where: { id, tenantId } })) === 0) throw notFound(`API key ${id}`);
}
