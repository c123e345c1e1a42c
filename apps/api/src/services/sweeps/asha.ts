/**
 * Asynchronous successive halving (ASHA, Li et al. 2018, "A System for Massively Parallel
 * Hyperparameter Tuning"), as a pruner: rungs at minEpochs·η^k epochs; a trial that reaches a
 * rung is kept only if its objective there is in the top 1/η of the values recorded at that
 * rung so far (at least the best one is always kept), else it is stopped there.
 */
export interface AshaRule {
  minEpochs: number;
  reductionFactor: number;
  goal: "maximize" | "minimize";
}

export interface AshaTrial {
  index: number;
  /** The objective after each finished epoch (epoch 1 first); null where the metric is missing. */
  values: (number | null)[];
  /** Rungs already judged and kept at. */
  rungsPassed: number;
  /** Epochs the trial is to train: a rung at or past its last epoch stops nothing. */
  epochs: number;
  /** Still training (not finished, not already pruned): only these are judged. */
  active: boolean;
}

export interface AshaDecision {
  index: number;
  rungsPassed: number;
  prune: boolean;
}

/** The rung epochs below `epochs`: minEpochs, minEpochs·η, minEpochs·η², … */
export function rungEpochs(rule: Pick<AshaRule, "minEpochs" | "reductionFactor">, epochs: number): number[] {
  const rungs: number[] = [];
  for (let rung = rule.minEpochs; rung < epochs; rung *= rule.reductionFactor) rungs.push(rung);
  return rungs;
}

const better = (goal: AshaRule["goal"], a: number, b: number) => (goal === "maximize" ? a > b : a < b);

/** Whether `value` is in the top 1/η of `recorded` (which includes it). */
export function keptAtRung(rule: AshaRule, value: number, recorded: number[]): boolean {
  const keep = Math.max(1, Math.floor(recorded.length / rule.reductionFactor));
  const strictlyBetter = recorded.filter((other) => better(rule.goal, other, value)).length;
  return strictlyBetter < keep;
}

/** Judges every active trial at each rung it has reached and not yet been judged at; answers only the trials that change. */
export function ashaDecisions(rule: AshaRule, trials: AshaTrial[]): AshaDecision[] {
  const recordedAt = (rung: number) =>
    trials.map((trial) => trial.values[rung - 1]).filter((value): value is number => typeof value === "number");
  const decisions: AshaDecision[] = [];
  for (const trial of trials) {
    if (!trial.active) continue;
    const rungs = rungEpochs(rule, trial.epochs);
    let passed = trial.rungsPassed;
    let prune = false;
    while (passed < rungs.length && trial.values.length >= rungs[passed]!) {
      const value = trial.values[rungs[passed]! - 1];
      // Without a value there is nothing to rank: the trial goes on. A trial whose every epoch is already
      // in (the planner caught up late) is not pruned: stopping it would save nothing, and it succeeded.
      const finished = trial.values.length >= trial.epochs;
      if (typeof value === "number" && !finished && !keptAtRung(rule, value, recordedAt(rungs[passed]!))) {
        prune = true;
        break;
      }
      passed += 1;
    }
    if (prune || passed !== trial.rungsPassed) decisions.push({ index: trial.index, rungsPassed: passed, prune });
  }
  return decisions;
}
