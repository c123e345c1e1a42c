import { CommanderError } from "commander";
import { TrainyardApiError } from "@trainyard/client";

/** Exit codes a script can trust. */
export const EXIT = { done: 0, failed: 1, usage: 2, unreachable: 3 } as const;

/** A command line that cannot run as written: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {}

/** The API did not answer at all (connection refused, DNS, timeout): exit 3. */
export class UnreachableError extends Error {}

/** fetch rejects with a TypeError ("fetch failed") when no HTTP answer came back. */
export function isUnreachable(error: unknown): boolean {
  return error instanceof UnreachableError || (error instanceof TypeError && error.message === "fetch failed");
}

/** The exit code and the line printed on stderr for an error that ended a command. */
export function exitOf(error: unknown, apiUrl: () => string): { code: number; message: string | null } {
  if (error instanceof CommanderError) {
    // Commander printed the help or its own message already; help asked for is not an error.
    const asked = error.code === "commander.helpDisplayed" || error.code === "commander.version";
    return { code: asked ? EXIT.done : EXIT.usage, message: null };
  }
  if (error instanceof UsageError) return { code: EXIT.usage, message: `trainyard: ${error.message} (see --help)` };
  if (isUnreachable(error)) {
    const cause = (error as Error & { cause?: { message?: string } }).cause?.message;
    return { code: EXIT.unreachable, message: `trainyard: the API at ${apiUrl()} is unreachable${cause ? ` (${cause})` : ""}` };
  }
  if (error instanceof TrainyardApiError) return { code: EXIT.failed, message: `trainyard: ${error.message}` };
  return { code: EXIT.failed, message: `trainyard: ${(error as Error).message}` };
}
