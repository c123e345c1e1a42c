import { mixSeed, seededRandom } from "@trainyard/datasets";

/** One parameter's domain, as api.md "Sweeps" spells it. */
export type ParameterDomain =
  | { values: unknown[] }
  | { uniform: [number, number] }
  | { logUniform: [number, number] }
  | { intUniform: [number, number] };

export type SearchSpec = { type: "grid" } | { type: "random"; trials: number; seed: number };

/** A trial's parameters: dotted path → value, in the order the sweep names the paths. */
export type TrialParams = Record<string, unknown>;

/** Every combination of the `values` lists, the last path varying fastest (an odometer). */
export function enumerateGrid(parameters: Record<string, ParameterDomain>): TrialParams[] {
  let combinations: TrialParams[] = [{}];
  for (const [path, domain] of Object.entries(parameters)) {
    if (!("values" in domain)) throw new Error(`grid search needs values for ${path}`);
    combinations = combinations.flatMap((partial) => domain.values.map((value) => ({ ...partial, [path]: value })));
  }
  return combinations;
}

/** How many trials a grid over these parameters has, without building them. */
export function gridSize(parameters: Record<string, ParameterDomain>): number {
  return Object.values(parameters).reduce((product, domain) => product * ("values" in domain ? domain.values.length : 1), 1);
}

function sample(domain: ParameterDomain, random: () => number): unknown {
  if ("values" in domain) return domain.values[Math.floor(random() * domain.values.length)];
  if ("uniform" in domain) {
    const [low, high] = domain.uniform;
    return low + random() * (high - low);
  }
  if ("logUniform" in domain) {
    const [low, high] = domain.logUniform;
    return Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low)));
  }
  const [low, high] = domain.intUniform;
  return low + Math.floor(random() * (high - low + 1));
}

/**
 * `trials` independent draws. Trial i has its own stream (seed mixed with i), so a trial's
 * parameters depend only on the seed and its index, not on how many parameters came before.
 */
export function sampleRandom(parameters: Record<string, ParameterDomain>, trials: number, seed: number): TrialParams[] {
  return Array.from({ length: trials }, (_, index) => {
    const random = seededRandom(mixSeed(seed, index));
    return Object.fromEntries(Object.entries(parameters).map(([path, domain]) => [path, sample(domain, random)]));
  });
}

export function enumerateTrials(parameters: Record<string, ParameterDomain>, search: SearchSpec): TrialParams[] {
  return search.type === "grid" ? enumerateGrid(parameters) : sampleRandom(parameters, search.trials, search.seed);
}

/** Keys that would reach an object's prototype instead of a property of its own. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** A copy of `base` with each dotted path set to its value; objects on the way are created as needed. */
export function applyParams(base: Record<string, unknown>, params: TrialParams): Record<string, unknown> {
  const spec = structuredClone(base);
  for (const [path, value] of Object.entries(params)) {
    const keys = path.split(".");
    if (keys.some((key) => PROTOTYPE_KEYS.has(key))) throw new Error(`${path}: not a job spec field`);
    let node: Record<string, unknown> = spec;
    for (const key of keys.slice(0, -1)) {
      const next = Object.hasOwn(node, key) ? node[key] : undefined;
      if (next === undefined || next === null) node[key] = {};
      else if (typeof next !== "object" || Array.isArray(next)) throw new Error(`${path}: ${key} is not an object in the base spec`);
      node = node[key] as Record<string, unknown>;
    }
    node[keys.at(-1)!] = value;
  }
  return spec;
}
