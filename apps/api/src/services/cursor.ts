import { badRequest } from "../problems.ts";
import { unstorableReason } from "../validation.ts";

const invalidCursor = () => badRequest("cursor is not valid", [{ path: "cursor", message: "not a cursor this API returned" }]);

/** Opaque keyset cursor: (createdAt, id) of the last item on the page. */
export function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(JSON.stringify([createdAt.toISOString(), id])).toString("base64url");
}

export function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    const date = new Date(createdAt);
    const year = date.getUTCFullYear();
    if (typeof id !== "string" || unstorableReason(id) || !(year >= 1970 && year <= 9999)) throw new Error("malformed");
    return { createdAt: date, id };
  } catch {
    throw invalidCursor();
  }
}

/** Ids are PostgreSQL bigints. */
const MAX_BIGINT = 2n ** 63n - 1n;

/** Opaque cursor over an id-ordered list: the (bigint) id of the last item on the page. */
export function encodeIdCursor(id: bigint): string {
  return Buffer.from(String(id)).toString("base64url");
}

export function decodeIdCursor(cursor: string): bigint {
  const id = Buffer.from(cursor, "base64url").toString("utf8");
  if (!/^\d{1,19}$/.test(id) || BigInt(id) > MAX_BIGINT) throw invalidCursor();
  return BigInt(id);
}
