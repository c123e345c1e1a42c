import { parseOptions, UsageError } from "../args.ts";
import { ApiClient } from "../client.ts";
import { apiBaseUrl } from "../env.ts";

interface Version {
  version: number;
  aliases: string[];
  sourceJobId: string | null;
  checkpoint: string | null;
  architecture: string;
  metrics: Record<string, unknown> | null;
  createdAt: string;
}

interface Model {
  name: string;
  versions: Version[];
}

const USAGE = `trainyard models register --name NAME --job JOB_ID [--checkpoint best|last] [--description TEXT]
trainyard models list [--name NAME]`;

const accuracy = (metrics: Record<string, unknown> | null) => {
  const value = metrics?.testAccuracy ?? metrics?.valAccuracy;
  return typeof value === "number" ? `${(value * 100).toFixed(2)}%` : "-";
};

function versionLine(name: string, version: Version): string {
  const aliases = version.aliases.length > 0 ? version.aliases.join(",") : "-";
  const source = version.sourceJobId ? `${version.sourceJobId} (${version.checkpoint ?? "-"})` : "-";
  return [name, String(version.version), aliases, version.architecture, accuracy(version.metrics), source, version.createdAt].join("\t");
}

/** `trainyard models register|list`: the model registry from the command line. */
export async function modelsCommand(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void = console.log): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== "register" && sub !== "list") throw new UsageError(`models: unknown subcommand "${sub ?? ""}"\n${USAGE}`);
  const options = parseOptions(rest, {
    name: { type: "string" },
    job: { type: "string" },
    checkpoint: { type: "string", default: "best" },
    description: { type: "string" },
    key: { type: "string" },
    api: { type: "string" },
  });
  const apiKey = options.key ?? env.TRAINYARD_API_KEY;
  if (!apiKey) throw new UsageError("an API key is needed: --key or TRAINYARD_API_KEY");
  const client = new ApiClient(options.api ?? apiBaseUrl(env), apiKey);

  if (sub === "register") {
    if (!options.name || !options.job) throw new UsageError(`models register needs --name and --job\n${USAGE}`);
    if (options.checkpoint !== "best" && options.checkpoint !== "last") throw new UsageError("--checkpoint is best or last");
    const version = await client.request<Version>("POST", "/v1/models", {
      name: options.name,
      fromJobId: options.job,
      checkpoint: options.checkpoint,
      ...(options.description ? { description: options.description } : {}),
    });
    print(`registered ${options.name} version ${version.version} from job ${options.job} (${options.checkpoint})`);
    return 0;
  }

  const models: Model[] = [];
  if (options.name) {
    models.push(await client.request<Model>("GET", `/v1/models/${encodeURIComponent(options.name)}`));
  } else {
    let cursor: string | null = null;
    do {
      const page: { items: Model[]; nextCursor: string | null } = await client.request(
        "GET",
        `/v1/models?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      models.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
  }
  print(["NAME", "VERSION", "ALIASES", "ARCHITECTURE", "ACCURACY", "SOURCE", "CREATED"].join("\t"));
  for (const model of models) for (const version of model.versions) print(versionLine(model.name, version));
  return 0;
}
