import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { createTrainyardClient, dataOf } from "@trainyard/client";
import { resolveConnection, writeLogin } from "../connection.ts";
import { UsageError } from "../errors.ts";

/** The key from the terminal (a prompt) or from a pipe (its first line), so it stays out of the shell's history. */
async function readKey(): Promise<string> {
  const input = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  try {
    return (await input.question(process.stdin.isTTY ? "API key: " : "")).trim();
  } finally {
    input.close();
  }
}

export function registerLogin(program: Command) {
  program
    .command("login")
    .summary("store the API URL and key in your config dir (0600)")
    .description(
      "Checks an API URL and key against the API and stores them in $XDG_CONFIG_HOME/trainyard/config.json\n" +
        "(~/.config/trainyard/config.json), readable by you only (0600). TRAINYARD_API_URL and TRAINYARD_API_KEY,\n" +
        "and --api/--key, override what is stored. Without --key the key is read from stdin.",
    )
    .addHelpText(
      "after",
      '\nExamples:\n  trainyard login --api https://trainyard.example.org\n  echo "$KEY" | trainyard login --api http://127.0.0.1:8080',
    )
    .action(async (_options: object, command: Command) => {
      const globals = command.optsWithGlobals() as { api?: string; key?: string };
      const { apiUrl } = resolveConnection(globals, process.env);
      const apiKey = globals.key ?? (await readKey());
      if (!apiKey) throw new UsageError("no API key given (--key, or on stdin)");
      // A key the API refuses is not stored: GET /v1/queue is the cheapest authenticated request.
      await dataOf(createTrainyardClient({ baseUrl: apiUrl, apiKey }).GET("/v1/queue"));
      const file = writeLogin(process.env, { apiUrl, apiKey });
      console.log(`logged in to ${apiUrl}; stored in ${file}`);
    });
}
