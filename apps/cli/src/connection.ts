import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { createTrainyardClient, type TrainyardClient } from "@trainyard/client";
import { UsageError } from "./errors.ts";

export const DEFAULT_API_URL = "http://127.0.0.1:8080";

/** What `trainyard login` stores. */
export interface StoredLogin {
  apiUrl: string;
  apiKey: string;
}

/** $XDG_CONFIG_HOME/trainyard/config.json, else ~/.config/trainyard/config.json. */
export function configFile(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), ".config");
  return join(base, "trainyard", "config.json");
}

export function readLogin(env: NodeJS.ProcessEnv): Partial<StoredLogin> {
  try {
    const stored = JSON.parse(readFileSync(configFile(env), "utf8")) as Partial<StoredLogin>;
    return { apiUrl: stored.apiUrl, apiKey: stored.apiKey };
  } catch {
    return {};
  }
}

/** Writes the file readable by its owner only (0600), in a folder only the owner can list (0700). */
export function writeLogin(env: NodeJS.ProcessEnv, login: StoredLogin): string {
  const file = configFile(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  // An existing file keeps its mode on write: tighten it.
  chmodSync(file, 0o600);
  return file;
}

/** The global options every API command accepts. */
export interface ConnectionOptions {
  api?: string;
  key?: string;
}

/** Flags first, then TRAINYARD_API_URL / TRAINYARD_API_KEY, then what `trainyard login` stored. */
export function resolveConnection(options: ConnectionOptions, env: NodeJS.ProcessEnv): { apiUrl: string; apiKey: string | undefined } {
  const stored = readLogin(env);
  return {
    apiUrl: options.api ?? env.TRAINYARD_API_URL ?? stored.apiUrl ?? DEFAULT_API_URL,
    apiKey: options.key ?? env.TRAINYARD_API_KEY ?? stored.apiKey,
  };
}

export interface Connection {
  apiUrl: string;
  apiKey: string;
  client: TrainyardClient;
}

export function connect(options: ConnectionOptions, env: NodeJS.ProcessEnv): Connection {
  const { apiUrl, apiKey } = resolveConnection(options, env);
  if (!apiKey) {
    throw new UsageError(
      "an API key is needed: `trainyard login`, TRAINYARD_API_KEY or --key (an operator creates the first with `trainyard keys create --tenant NAME`)",
    );
  }
  return { apiUrl, apiKey, client: createTrainyardClient({ baseUrl: apiUrl, apiKey }) };
}
