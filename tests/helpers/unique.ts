import { randomBytes } from "node:crypto";

/** A fresh address for each call, so tests sharing an app or a server never collide (nor share a limiter bucket). */
export function uniqueEmail(tag = "user"): string {
  return `${tag}-${randomBytes(5).toString("hex")}@example.test`;
}
