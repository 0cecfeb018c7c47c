// chaos-run-command.ts: `tug chaos run FILE...`: run chaos scenarios (@tugboat/chaos) against
// a local cluster, print each one's summary and write its report (summary.txt, report.html with
// the timeline, record.json). Exits 0 only when every check of every scenario held.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { parseDuration, parseScenario, renderSummary, runScenario, writeReport } from '@tugboat/chaos';
import type { Scenario } from '@tugboat/chaos';
import { DEFAULT_CLUSTER_NAME, existingPlan } from '@tugboat/localcluster';
import { CliError, ReportedError, UsageError } from './errors.ts';
import type { Io } from './session.ts';
import { clusterName, failure } from './local-commands.ts';

interface RunFlags {
  duration?: string;
  seed?: string;
  report?: string;
  name?: string;
}

/** stamp is a time for a folder name: 20261207-171502. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

/** addChaosRunCommand adds `tug chaos run` to `tug chaos`. */
export function addChaosRunCommand(chaos: Command, io: Io): void {
  chaos
    .command('run')
    .summary('run chaos scenarios: faults on a schedule, a workload, and checks')
    .description(
      'Run each scenario file against a local cluster: a web Deployment behind a Service asked over HTTP through its VIP from inside the cluster, a one-replica set, and API clients writing ConfigMaps with compare-and-swap, while the scenario\'s faults hit the cluster round after round. Then check: desired replicas back within the bound after each heal, service availability per phase, at most one leader per term, no container for a deleted pod, no second copy of the one-replica set\'s pod, the API history linearizable (no acknowledged write lost), nothing left. Prints a summary and writes the report (summary.txt, report.html with the timeline, record.json). Exits 0 only when every check held. The shipped scenarios are in test/chaos/scenarios/.',
    )
    .argument('<files...>', 'scenario files (YAML)')
    .option('--duration <duration>', "run this long instead of the scenario's own duration, e.g. 30m (the long form)")
    .option('--seed <n>', "the seed of the faults' random choices, instead of the scenario's")
    .option('--report <dir>', 'where to write the report (default: /var/lib/tugboat/chaos-reports/CLUSTER/SCENARIO-TIME, kept after `tug cluster down`; with several files, one folder each inside DIR)')
    .option('--name <name>', 'cluster name', DEFAULT_CLUSTER_NAME)
    .action(async (files: string[], flags: RunFlags) => {
      const name = clusterName(flags.name, 'chaos run');
      const durationMs = flags.duration === undefined ? undefined : parseDuration(flags.duration);
      if (durationMs === undefined && flags.duration !== undefined) throw new UsageError(`--duration must be a duration such as 90s or 30m, got ${JSON.stringify(flags.duration)}`, 'chaos run');
      const seed = flags.seed === undefined ? undefined : Number(flags.seed);
      if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) throw new UsageError(`--seed must be a whole number from 0 to 4294967295, got ${JSON.stringify(flags.seed)}`, 'chaos run');
      const scenarios: { file: string; scenario: Scenario }[] = [];
      for (const file of files) {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (err) {
          throw new CliError(`cannot read scenario file ${file}: ${(err as Error).message}`);
        }
        try {
          scenarios.push({ file, scenario: parseScenario(text, file) });
        } catch (err) {
          throw new UsageError((err as Error).message, 'chaos run');
        }
      }
      let failed = 0;
      try {
        const plan = existingPlan(name);
        for (const { file, scenario } of scenarios) {
          const dir = flags.report === undefined ? join(plan.stateRoot, 'chaos-reports', name, `${scenario.name}-${stamp(new Date())}`) : scenarios.length === 1 ? flags.report : join(flags.report, scenario.name);
          const record = await runScenario(scenario, {
            cluster: name,
            ...(durationMs === undefined ? {} : { durationMs }),
            ...(seed === undefined ? {} : { seed }),
            progress: (line) => io.stdout.write(`${line}\n`),
            command: `tug chaos run ${file}${name === DEFAULT_CLUSTER_NAME ? '' : ` --name ${name}`}`,
          });
          const written = writeReport(dir, record);
          io.stdout.write(`\n${renderSummary(record)}\nreport: ${written.htmlFile} (summary: ${basename(written.summaryFile)}, record: ${basename(written.recordFile)})\n\n`);
          if (!record.checks.every((c) => c.ok)) failed++;
        }
      } catch (err) {
        if (err instanceof Error && (err.name === 'RunError' || err.name === 'ScenarioError')) throw new CliError(err.message);
        throw failure(err, 'chaos run');
      }
      if (failed > 0) {
        io.stderr.write(`${failed} of ${scenarios.length} scenario${scenarios.length === 1 ? '' : 's'} failed a check\n`);
        throw new ReportedError('chaos run: a check failed');
      }
    });
}
