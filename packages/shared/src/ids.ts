import { randomBytes } from "node:crypto";

/** Sortable opaque ids: time prefix (ms, base36) + 80 random bits; prefix says what the id names. */
export function newId(prefix: "job" | "ds" | "ten" | "key" | "ckpt" | "art" | "wrk" | "whd" | "whk" | "mdl" | "mver"): string {
  const time = Date.now().toString(36).padStart(9, "0");
  return `${prefix}_${time}${randomBytes(10).toString("hex")}`;
}
