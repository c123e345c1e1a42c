import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { readCompose, readRepoFile, REPO_ROOT } from "./deployFiles.ts";

/**
 * The compose `monitoring` profile against the code it watches: Prometheus scrapes the ports the API
 * and the workers listen on in docker-compose.yml, and every series the Grafana dashboard queries is
 * one the API or the worker defines.
 */
const compose = readCompose();
const WORKERS = ["worker-cpu", "worker-gpu", "worker-webgpu"];

interface ScrapeConfig {
  job_name: string;
  metrics_path?: string;
  dns_sd_configs: { names: string[]; type: string; port: number }[];
}

/** Metric names a source file registers with prom-client (`name: "trainyard_…"`). */
function definedMetrics(file: string): string[] {
  return [...readRepoFile(file).matchAll(/name: "(trainyard_[a-z_]+)"/g)].map((match) => match[1]);
}

/** The series names a PromQL expression reads; a histogram's _bucket/_sum/_count are its own name. */
function queriedMetrics(expr: string): string[] {
  return [...expr.matchAll(/\b(trainyard_[a-z_]+)/g)].map((match) => match[1].replace(/_(bucket|sum|count)$/, ""));
}

describe("the monitoring profile", () => {
  const prometheus = parse(readRepoFile("docker/prometheus/prometheus.yml")) as { scrape_configs: ScrapeConfig[] };
  const job = (name: string) => prometheus.scrape_configs.find((config) => config.job_name === name)!;

  it("runs Prometheus and Grafana only with --profile monitoring, on pinned images, mounting files that exist", () => {
    for (const name of ["prometheus", "grafana"]) {
      const service = compose.services[name];
      expect(service.profiles, name).toEqual(["monitoring"]);
      for (const volume of service.volumes ?? []) {
        const [source] = volume.split(":");
        if (source.startsWith("./")) expect(existsSync(join(REPO_ROOT, source)), `${name} mounts ${source}`).toBe(true);
      }
    }
  });

  it("scrapes the API on its compose port and every worker on its TRAINYARD_METRICS_PORT, by service name", () => {
    const api = job("trainyard-api").dns_sd_configs[0];
    expect(api.names).toEqual(["api"]);
    expect(String(api.port)).toBe(compose.services.api.environment?.PORT);
    const workers = job("trainyard-worker").dns_sd_configs[0];
    expect(workers.names).toEqual(WORKERS);
    for (const name of WORKERS) expect(compose.services[name].environment?.TRAINYARD_METRICS_PORT, name).toBe(String(workers.port));
  });

  it("queries in the Grafana dashboard only series the API and the worker define, from the provisioned data source", () => {
    const defined = new Set([...definedMetrics("apps/api/src/services/metrics.ts"), ...definedMetrics("apps/worker/src/metrics.ts")]);
    // 4 API series, 7 worker series (docs/operations.md "Metrics").
    expect(defined.size).toBe(11);
    const datasource = parse(readRepoFile("docker/grafana/provisioning/datasources/prometheus.yml")) as { datasources: { uid: string }[] };
    const dashboard = JSON.parse(readFileSync(join(REPO_ROOT, "docker/grafana/dashboards/trainyard.json"), "utf8")) as {
      panels: { type: string; title: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
    };
    const queried = new Set<string>();
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe(datasource.datasources[0].uid);
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets!) for (const name of queriedMetrics(target.expr)) queried.add(name);
    }
    for (const name of queried) expect(defined.has(name), `the dashboard queries ${name}`).toBe(true);
    // Every Trainyard series is on the dashboard.
    expect([...defined].filter((name) => !queried.has(name))).toEqual([]);
  });
});
