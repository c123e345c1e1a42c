#!/usr/bin/env node
// Trainyard runs its TypeScript sources through tsx: no build step between a clone and a job.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
