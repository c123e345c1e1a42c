/** Defaults shared by every command: the local PostgreSQL and Redis, port 8080. */
export const DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/trainyard";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export function withDefaults(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    DATABASE_URL: env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    REDIS_URL: env.REDIS_URL ?? DEFAULT_REDIS_URL,
    PORT: env.PORT ?? "8080",
  };
}

export function apiBaseUrl(env: NodeJS.ProcessEnv): string {
  return env.TRAINYARD_API_URL ?? `http://127.0.0.1:${env.PORT ?? "8080"}`;
}
