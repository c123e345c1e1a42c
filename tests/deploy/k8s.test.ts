import { Deployment } from "kubernetes-models/apps/v1";
import { Job } from "kubernetes-models/batch/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { readManifests } from "./deployFiles.ts";

/**
 * k8s/*.yaml against the Kubernetes API's schemas (kubernetes-models: validators generated from the
 * OpenAPI definitions of each kind; types, required fields, quantities, int-or-string), then the rules of
 * this deployment: non-root pods with a hardened container securityContext, pinned images, resources,
 * one data volume, probes that mean what k8s/README.md says, a versioned migration Job, a PDB for the API.
 */
const FILES = ["api.yaml", "migrate-job.yaml", "worker-cpu.yaml", "worker-gpu.yaml"];
const manifests = readManifests(FILES);

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  "apps/v1 Deployment": Deployment,
  "batch/v1 Job": Job,
  "policy/v1 PodDisruptionBudget": PodDisruptionBudget,
  "v1 PersistentVolumeClaim": PersistentVolumeClaim,
  "v1 Service": Service,
};

function schemaErrors(object: Record<string, any>): string[] {
  const Model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (!Model) return [`no schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

const podSpecOf = (object: Record<string, any>) => object.spec?.template?.spec as Record<string, any> | undefined;

/** What this deployment asks of every workload; one line per broken rule. */
function policyViolations(object: Record<string, any>): string[] {
  const pod = podSpecOf(object);
  if (!pod) return [];
  const name = object.metadata.name;
  const problems: string[] = [];
  const podSecurity = pod.securityContext ?? {};
  if (podSecurity.runAsNonRoot !== true || !(podSecurity.runAsUser > 0)) problems.push(`${name}: pod must run as a non-root uid`);
  const mountsData = (pod.volumes ?? []).some((volume: any) => volume.persistentVolumeClaim?.claimName === "trainyard-data");
  if (mountsData && podSecurity.fsGroup !== podSecurity.runAsUser) problems.push(`${name}: fsGroup must be the pod's uid, for the data volume`);
  for (const container of pod.containers) {
    const where = `${name}/${container.name}`;
    const security = container.securityContext ?? {};
    if (security.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
    if (security.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
    if (!security.capabilities?.drop?.includes("ALL")) problems.push(`${where}: capabilities must drop ALL`);
    if (!/:[^:/]*\d[^:/]*$/.test(container.image) || container.image.endsWith(":latest")) problems.push(`${where}: image must be pinned to a version`);
    if (!container.resources?.requests?.cpu || !container.resources?.requests?.memory) problems.push(`${where}: cpu and memory requests`);
    if (!container.resources?.limits?.memory) problems.push(`${where}: a memory limit`);
    const env = Object.fromEntries((container.env ?? []).map((variable: any) => [variable.name, variable.value]));
    const dataMount = (container.volumeMounts ?? []).find((mount: any) => mount.name === "data");
    if (mountsData && (dataMount?.mountPath !== "/data" || env.TRAINYARD_DATA_DIR !== "/data")) {
      problems.push(`${where}: the data volume at /data with TRAINYARD_DATA_DIR=/data`);
    }
  }
  return problems;
}

const find = (kind: string, name: string) => manifests.find(({ object }) => object.kind === kind && object.metadata.name === name)!.object;

describe("k8s manifests", () => {
  it.each(manifests.map(({ file, object }) => [`${file}: ${object.kind} ${object.metadata.name}`, object]))(
    "%s is valid against its Kubernetes schema and our rules",
    (_name, object) => {
      expect(schemaErrors(object)).toEqual([]);
      expect(policyViolations(object)).toEqual([]);
    },
  );

  it("fail a broken manifest: schema errors and broken rules are both caught", () => {
    const broken = structuredClone(find("Deployment", "trainyard-api"));
    broken.spec.replicas = "two";
    broken.spec.template.spec.containers[0].resources.requests.memory = "lots";
    broken.spec.template.spec.containers[0].image = "trainyard-api:latest";
    delete broken.spec.template.spec.containers[0].securityContext;
    const [schemaMessage] = schemaErrors(broken);
    expect(schemaMessage).toContain("data/spec/replicas must be integer");
    expect(schemaMessage).toContain('data/spec/template/spec/containers/0/resources/requests/memory must match format "quantity"');
    expect(policyViolations(broken)).toEqual([
      "trainyard-api/api: allowPrivilegeEscalation must be false",
      "trainyard-api/api: readOnlyRootFilesystem must be true",
      "trainyard-api/api: capabilities must drop ALL",
      "trainyard-api/api: image must be pinned to a version",
    ]);
    const missingSelector = structuredClone(find("PodDisruptionBudget", "trainyard-api"));
    missingSelector.spec.maxUnavailable = { percent: 50 };
    expect(schemaErrors(missingSelector)[0]).toContain("data/spec/maxUnavailable");
  });

  it("keep API pods in the Service while Redis is down: readiness on /readyz, liveness on /healthz", () => {
    const api = podSpecOf(find("Deployment", "trainyard-api"))!.containers[0];
    expect(api.readinessProbe.httpGet.path).toBe("/readyz");
    expect(api.livenessProbe.httpGet.path).toBe("/healthz");
  });

  it("protect the API with a PodDisruptionBudget that selects its pods and leaves some to evict", () => {
    const api = find("Deployment", "trainyard-api");
    const budget = find("PodDisruptionBudget", "trainyard-api");
    expect(api.spec.template.metadata.labels).toMatchObject(budget.spec.selector.matchLabels);
    expect(budget.spec.minAvailable).toBeLessThan(api.spec.replicas);
  });

  it("name the migration Job after the release its image is, and clean finished ones up", () => {
    const job = manifests.find(({ object }) => object.kind === "Job")!.object;
    const version = podSpecOf(job)!.containers[0].image.split(":")[1];
    expect(job.metadata.name).toBe(`trainyard-migrate-${version.replaceAll(".", "-")}`);
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0);
  });

  it("place GPU workers on GPU nodes, with as many GPU slots as GPUs requested", () => {
    const gpu = podSpecOf(find("Deployment", "trainyard-worker-gpu"))!;
    expect(Object.keys(gpu.nodeSelector)).toContain("nvidia.com/gpu.present");
    expect(gpu.tolerations).toContainEqual(expect.objectContaining({ key: "nvidia.com/gpu", effect: "NoSchedule" }));
    const worker = gpu.containers[0];
    const gpus = worker.env.find((variable: any) => variable.name === "TRAINYARD_GPUS").value.split(",");
    expect(worker.resources.limits["nvidia.com/gpu"]).toBe(gpus.length);
  });
});
