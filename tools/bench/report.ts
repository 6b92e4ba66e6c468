/**
 * Output of the benchmark: a console table, `bench-results/latest.json`, `docs/benchmarks.md` and the latency
 * chart `docs/benchmarks-latency.svg` (drawn here, no charting library).
 */
import type { PollerInstancesResult } from './poller-instances';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../settings';
import type { ColdStartResult } from './coldstart';
import type { DocumentsResult } from './documents';
import type { FloorResult, InProcessResult, OverheadRow } from './overhead';
import type { QuotaCheckResult } from './limits';
import type { PollerResult } from './poller';
import type { PollerWebhooksResult } from './poller-webhooks';
import type { PollerStepCosts, StepCost } from './poller-steps';
import type { Summary } from './stats';
import type { StreamingResult } from './streaming';

export interface BenchResults {
  startedAt: string;
  quick: boolean;
  azuriteInMemory?: boolean;
  durationS?: number;
  machine: Record<string, string | number>;
  stack?: Record<string, unknown>;
  scenarios: {
    overhead?: {
      rows: OverheadRow[];
      floor: FloorResult;
      postFloor?: FloorResult;
      inProcess?: InProcessResult;
      quota?: QuotaCheckResult;
      storage: { upsert: Summary; read: Summary };
    };
    streaming?: StreamingResult;
    poller?: PollerResult;
    pollerWebhooks?: PollerWebhooksResult;
    /** The poller through the queue, with 1..N host instances (`--poller-instances`). */
    pollerInstances?: PollerInstancesResult;
    documents?: DocumentsResult;
    coldstart?: ColdStartResult;
  };
}

export function machineFacts(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

export interface Verdict {
  scenario: string;
  metric: string;
  measured: string;
  baseline: string;
  target: string;
  met: boolean | undefined;
  cause?: string;
}

const ms = (v: number, d = 2) => (Number.isFinite(v) ? `${v.toFixed(d)} ms` : 'n/a');
const s = (v: number) => `${(v / 1000).toFixed(2)} s`;

/**
 * Why a target was missed, as measured (see docs/benchmarks.md "Analysis"). Shown next to a missed target only;
 * a target met in a later run drops its note by itself.
 */
const CAUSES: Record<string, string> = {
  'create-c1':
    'the host + library proxy hop (floor row) and the synchronous ownership write (one Azurite upsert) already exceed 2 ms; the rest is the same upstream and storage calls running slower inside the host process',
  'retrieve-c1':
    'the host + library proxy hop (floor row) plus the upstream call running slower inside the host; the service code adds ~0.3 ms since the job lookup was removed',
  'create-c32':
    'CPU-bound: every request costs CPU in three processes (host, Azurite, client) on two shared cores; p99 is queueing',
  'retrieve-c32':
    'CPU-bound: every request costs CPU in three processes (host, Azurite, client) on two shared cores; p99 is queueing',
  ttfb: "a one-off cost before the first frame: the id must be recorded as the caller's (one storage write, slow here because Azurite idles between streams) after the host hop and the upstream headers; not Nagle; per-event cost afterwards is ~0.4 ms",
  'event-delay':
    'the median is well under 1 ms; the tail is scheduling on a shared two-core machine (both readers run in the benchmark process)',
  'poll-delay':
    'poller throughput (~11 polls/s at 10,000 jobs against ~470/s asked at the peak): each poll still needs a job read and shared due-index transactions on one single-threaded Azurite that persists to disk (1,000 jobs: target met)',
  'doc-memory':
    'up to five copies of the PDF at once: local-host download, trigger input, pdf-parse copy, Files API File and multipart body',
  coldstart:
    'compiling the one-file bundle (5–6 ms) and evaluating it (19 registrations, module top levels, ~8 ms) exceed the ~10 ms that 1.5× leaves; busboy made lazy after this run: 1.90×',
};

export function verdicts(r: BenchResults): Verdict[] {
  const out: Verdict[] = [];
  const add = (v: Omit<Verdict, 'cause'>, id: string) =>
    out.push(v.met === false && CAUSES[id] ? { ...v, cause: CAUSES[id] } : v);
  const o = r.scenarios.overhead;
  if (o) {
    for (const row of o.rows) {
      const id = `${row.op.startsWith('create') ? 'create' : 'retrieve'}-c${row.concurrency}`;
      if (row.concurrency === 1) {
        add(
          {
            scenario: '1. Overhead',
            metric: `${row.op}, c=1: median added`,
            measured: ms(row.addedP50),
            baseline: `direct p50 ${ms(row.direct.latency.p50)}`,
            target: '≤ 2 ms',
            met: row.addedP50 <= 2,
          },
          id,
        );
      } else {
        add(
          {
            scenario: '1. Overhead',
            metric: `${row.op}, c=32: p99 added`,
            measured: ms(row.addedP99),
            baseline: `direct p99 ${ms(row.direct.latency.p99)}`,
            target: '≤ 10 ms',
            met: row.addedP99 <= 10,
          },
          id,
        );
      }
    }
  }
  if (o?.quota) {
    add(
      {
        scenario: '1. Overhead',
        metric: 'quota check (3 limits): median added per create',
        measured: ms(o.quota.addedCheck, 4),
        baseline: `no-limit lookup p50 ${ms(o.quota.unlimited.p50, 4)}`,
        target: '≤ 0.1 ms',
        met: o.quota.addedCheck <= 0.1,
      },
      'quota-check',
    );
  }
  const st = r.scenarios.streaming;
  if (st) {
    add(
      {
        scenario: '2. Streaming',
        metric: 'added time to first event (p50)',
        measured: ms(st.ttfb.addedP50),
        baseline: `direct p50 ${ms(st.ttfb.direct.p50)}`,
        target: '≤ 2 ms',
        met: st.ttfb.addedP50 <= 2,
      },
      'ttfb',
    );
    const c1 = st.perEvent.find((p) => p.concurrency === 1);
    if (c1) {
      add(
        {
          scenario: '2. Streaming',
          metric: 'per-event delay in the service, p99 (c=1)',
          measured: ms(c1.delay.p99, 3),
          baseline: 'same event on a direct connection',
          target: '≤ 1 ms',
          met: c1.delay.p99 <= 1,
        },
        'event-delay',
      );
    }
    const batched = st.perEvent.reduce((n, p) => n + p.batchedReads, 0);
    add(
      {
        scenario: '2. Streaming',
        metric: 'network reads holding more than one event',
        measured: String(batched),
        baseline: `direct ${st.perEvent.reduce((n, p) => n + p.directBatchedReads, 0)}`,
        target: '0 (never batched)',
        met: batched === 0,
      },
      'batching',
    );
  }
  const w = r.scenarios.pollerWebhooks;
  if (w) {
    add(
      {
        scenario: '3b. Poller, webhooks on',
        metric: `completion → finalized p99 (${w.jobs} jobs)`,
        measured: s(w.finalizationDelay.p99),
        baseline: `${w.finalizedByWebhook} by webhook, ${w.finalizedByPoller} by the poller`,
        target: '≤ 2 s',
        met: w.notFinalized === 0 && w.finalizationDelay.p99 <= w.targetP99Ms,
      },
      'webhook-delay',
    );
  }
  const p = r.scenarios.poller;
  if (p) {
    add(
      {
        scenario: '3. Poller',
        metric: `tick with nothing due (${p.idleTick.inFlight} in flight)`,
        measured: `${p.idleTick.tableQueries} query, ${p.idleTick.upstreamCalls} upstream calls`,
        baseline: '—',
        target: `1 query per due-index partition (${p.settings.duePartitions ?? 1}), 0 upstream calls`,
        met: p.idleTick.tableQueries === (p.settings.duePartitions ?? 1) && p.idleTick.upstreamCalls === 0,
      },
      'idle-tick',
    );
    add(
      {
        scenario: '3. Poller',
        metric: 'upstream calls per job vs backoff minimum',
        measured: `${p.callsPerJob} (${p.callsRatio}×${p.callsRatio < 1 ? '; below 1× because polls ran late' : ''})`,
        baseline: `minimum ${p.minimumPerJob}`,
        target: '≤ 1.2×',
        met: p.callsRatio <= 1.2,
      },
      'poll-calls',
    );
    add(
      {
        scenario: '3. Poller',
        metric: 'upstream completion → finalized, p99',
        measured: `${s(p.finalizationDelay.p99)} (p50 ${s(p.finalizationDelay.p50)})`,
        baseline: `cap ${s(p.settings.maxDelayMs)} + tick ${s(p.settings.tickMs)}`,
        target: `≤ ${s(p.targetDelayMs)}`,
        met: p.finalizationDelay.p99 <= p.targetDelayMs && p.notFinalized === 0,
      },
      'poll-delay',
    );
  }
  const d = r.scenarios.documents;
  if (d) {
    if (!d.landed) {
      out.push({
        scenario: '4. Documents',
        metric: 'peak RSS growth / file size; time to upstream request',
        measured: 'not run',
        baseline: '—',
        target: '≤ 3×',
        met: undefined,
        cause: d.note,
      });
    } else if (d.memoryRatio !== undefined) {
      add(
        {
          scenario: '4. Documents',
          metric: `peak host RSS growth / file size (${d.fileMiB ?? '?'} MiB PDF)`,
          measured: `${d.memoryRatio}× (${d.peakGrowthMiB ?? '?'} MiB)`,
          baseline: `idle RSS ${d.idleRssMiB ?? '?'} MiB`,
          target: '≤ 3×',
          met: d.memoryRatio <= 3,
        },
        'doc-memory',
      );
      out.push({
        scenario: '4. Documents',
        metric: 'blob committed → upstream create (no model time)',
        measured: d.toUpstreamMs === undefined ? 'n/a' : ms(d.toUpstreamMs, 0),
        baseline: '—',
        target: 'reported',
        met: undefined,
      });
    }
  }
  const c = r.scenarios.coldstart;
  if (c) {
    add(
      {
        scenario: '5. Cold start',
        metric: 'import of the production entry vs @azure/functions alone (p50)',
        measured: `${ms(c.app.p50, 1)} (${c.ratioP50}×)`,
        baseline: `@azure/functions ${ms(c.library.p50, 1)}`,
        target: '≤ 1.5×',
        met: c.ratioP50 <= 1.5,
      },
      'coldstart',
    );
    add(
      {
        scenario: '5. Cold start',
        metric: 'network connections opened at import',
        measured: String(c.connectsAtImport),
        baseline: '—',
        target: '0',
        met: c.connectsAtImport === 0,
      },
      'coldstart-net',
    );
  }
  return out;
}

const mark = (met: boolean | undefined) => (met === undefined ? '—' : met ? 'met' : 'MISSED');

export function printTable(r: BenchResults, log: (line: string) => void): void {
  const rows = verdicts(r);
  const cols = ['scenario', 'metric', 'measured', 'baseline', 'target', 'result'] as const;
  const cells = rows.map((v) => [v.scenario, v.metric, v.measured, v.baseline, v.target, mark(v.met)]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: readonly string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join(' | ');
  log('');
  log(line(cols));
  log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const row of cells) log(line(row));
}

function overheadTable(rows: OverheadRow[]): string[] {
  const out = [
    '| Operation | Concurrency | Direct p50 | Direct p99 | Service p50 | Service p99 | Added p50 | Added p99 | Direct req/s | Service req/s | Throughput vs direct |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    out.push(
      `| ${r.op} | ${r.concurrency} | ${ms(r.direct.latency.p50)} | ${ms(r.direct.latency.p99)} | ${ms(r.service.latency.p50)} | ${ms(r.service.latency.p99)} | **${ms(r.addedP50)}** | **${ms(r.addedP99)}** | ${r.direct.rps.toFixed(0)} | ${r.service.rps.toFixed(0)} | ${r.throughputRatio.toFixed(2)}× |`,
    );
  }
  return out;
}

/** Markdown for docs/benchmarks.md; `analysis` is the hand-written part kept in tools/bench/analysis.md. */
/** Rows of one job's step costs (poller-steps.ts), for the poller section. */
function stepRows(steps: PollerStepCosts): string[] {
  const show = (c: StepCost) => `${c.queries} query, ${c.reads} reads, ${c.writes} writes`;
  return [
    `| One job alone: poll that sees a status change | ${show(steps.statusChange)} |`,
    `| One job alone: poll with the same status | ${show(steps.samePoll)} |`,
    `| One job alone: poll that sees the end, with its finalization | ${show(steps.finalization)} |`,
    `| Due index: ${steps.dueIndex.moves} moves at once (group commit) | ${steps.dueIndex.writeRoundTrips} write round trips |`,
  ];
}

export function markdown(r: BenchResults, analysis: string): string {
  const v = verdicts(r);
  const lines: string[] = [
    '# Benchmarks',
    '',
    '<!-- Generated by `npm run bench` (tools/bench/). Edit tools/bench/analysis.md for the analysis section. -->',
    '',
    'Every figure is measured side by side with a baseline in the same run: the same call made with the official',
    '`openai` SDK straight to the Responses API emulator (the "direct path"), with zero model latency, so what',
    'remains is what the service adds. Absolute times on a shared machine are noise; the differences are the result.',
    '',
    `Run: ${r.startedAt}${r.quick ? ' (quick mode: fewer samples)' : ''}, ${r.durationS ?? '?'} s.`,
    '',
    '## Machine',
    '',
    '| | |',
    '| --- | --- |',
    ...Object.entries(r.machine).map(([k, val]) => `| ${k} | ${val} |`),
    '',
    'Four processes share these cores: Azurite, the emulator, the app under the local host, and the benchmark',
    '(the client). The emulator runs in a process of its own so the direct path crosses a process boundary as the',
    'service path does. All traffic is loopback.',
    '',
    '## Targets',
    '',
    '| Scenario | Metric | Measured | Baseline | Target | Result |',
    '| --- | --- | --- | --- | --- | --- |',
    ...v.map(
      (x) =>
        `| ${x.scenario} | ${x.metric} | ${x.measured} | ${x.baseline} | ${x.target} | ${x.met === undefined ? (x.cause ?? '—') : x.met ? 'met' : `**missed**: ${x.cause ?? 'see Analysis'} (Analysis)`} |`,
    ),
    '',
  ];
  const o = r.scenarios.overhead;
  if (o) {
    lines.push(
      '## 1. Overhead of create and retrieve',
      '',
      'Non-streaming `responses.create` (`model: gpt-4.1`, a one-line input) and `responses.retrieve` of a',
      'response the caller owns, direct and through the service in alternating blocks (100 requests at c=1, 320',
      'at c=32), after a warm-up. Latency is measured by the client around the SDK call.',
      '',
      ...overheadTable(o.rows),
      '',
      '![Latency percentiles, direct vs service](benchmarks-latency.svg)',
      '',
      'Diagnostics measured in the same run:',
      '',
      `- Fixed cost of a request through the host and the library's HTTP proxy, answered without any I/O (an`,
      `  authenticated request with a malformed id, 400) vs the emulator answering an unknown id (404): added p50`,
      `  **${ms(o.floor.added)}** (service p50 ${ms(o.floor.service.p50)}, direct p50 ${ms(o.floor.direct.p50)}).`,
      ...(o.postFloor
        ? [
            `- The same for a POST with a small body the app refuses without I/O (not JSON, 400): added p50`,
            `  **${ms(o.postFloor.added)}**.`,
          ]
        : []),
      ...(o.inProcess
        ? [
            `- The service's own code without the host (\`shared/responses/create.ts\` called in the benchmark process`,
            `  against the same emulator and Azurite, c=1): create added p50 **${ms(o.inProcess.addedCreate)}**`,
            `  (${ms(o.inProcess.create.p50)} vs ${ms(o.inProcess.directCreate.p50)}), retrieve of a synchronous response`,
            `  added p50 **${ms(o.inProcess.addedRetrieve)}** (${ms(o.inProcess.retrieve.p50)} vs ${ms(o.inProcess.directRetrieve.p50)}).`,
          ]
        : []),
      ...(o.quota
        ? [
            `- The per-caller quota check (\`shared/limits\`, in the benchmark process): admit + settle for a caller`,
            `  with all three limits p50 **${ms(o.quota.limited.p50, 4)}** vs the cached lookup of a caller without limits`,
            `  p50 ${ms(o.quota.unlimited.p50, 4)}, so **${ms(o.quota.addedCheck, 4)}** added per create; whole in-process`,
            `  creates with vs without limits: p50 ${ms(o.quota.createLimited.p50)} vs ${ms(o.quota.createUnlimited.p50)}`,
            `  (difference ${ms(o.quota.addedCreate)}, within that measurement's noise).`,
          ]
        : []),
      `- One Azurite table upsert from the benchmark process: p50 ${ms(o.storage.upsert.p50)}, p99`,
      `  ${ms(o.storage.upsert.p99)}; one point read: p50 ${ms(o.storage.read.p50)}, p99 ${ms(o.storage.read.p99)}.`,
      '',
    );
  }
  const st = r.scenarios.streaming;
  if (st) {
    lines.push(
      '## 2. Streaming relay',
      '',
      `A streamed create (${st.eventsPerStream} events, emitted 20 ms apart by the emulator).`,
      '',
      '- **Time to first event**: `responses.create({ stream: true })` with the SDK on both paths, time until the',
      '  first event is parsed.',
      '- **Per-event delay**: while a stream is read through the service, a second reader attaches to the same',
      '  response straight at the emulator (`GET /responses/{id}?stream=true&starting_after=0`). The emulator writes',
      '  each event to both connections in the same tick, so the arrival through the service minus the direct',
      '  arrival of the same `sequence_number` is the time the event spent in the service (events from',
      '  `sequence_number` 2 on, which both readers saw live).',
      '- **Batching**: with events 20 ms apart, every network read should hold exactly one event.',
      '',
      '| Measure | Direct | Service | Added |',
      '| --- | ---: | ---: | ---: |',
      `| first event p50 | ${ms(st.ttfb.direct.p50)} | ${ms(st.ttfb.service.p50)} | **${ms(st.ttfb.addedP50)}** |`,
      `| first event p99 | ${ms(st.ttfb.direct.p99)} | ${ms(st.ttfb.service.p99)} | ${ms(st.ttfb.addedP99)} |`,
      '',
      '| Concurrent streams | Streams | Events compared | Delay p50 | Delay p99 | Max | Reads with >1 event (service / direct) |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...st.perEvent.map(
        (p) =>
          `| ${p.concurrency} | ${p.streams} | ${p.events} | ${ms(p.delay.p50, 3)} | **${ms(p.delay.p99, 3)}** | ${ms(p.delay.max, 3)} | ${p.batchedReads} / ${p.directBatchedReads} |`,
      ),
      '',
    );
  }
  const p = r.scenarios.poller;
  if (p) {
    lines.push(
      '## 3. Poller at scale',
      '',
      `${p.jobs.toLocaleString('en-US')} background responses created straight at the emulator, each finishing at its own`,
      `time (evenly spread over ${s(p.durationsMs.min)}–${s(p.durationsMs.max)}), tracked through the jobs module's`,
      '`trackBackgroundJob` against Azurite (as a create through the service does), while `runPollerTick` is driven in',
      `process from the start on the production schedule: a tick every ${s(p.settings.tickMs)}, POLL_INITIAL_DELAY_MS ${p.settings.initialDelayMs},`,
      `POLL_MAX_DELAY_MS ${p.settings.maxDelayMs}, POLL_CONCURRENCY ${p.settings.concurrency}, POLL_TICK_BUDGET_MS ${p.settings.budgetMs}.`,
      `Seeding took ${p.seedSeconds} s; the whole scenario ${p.wallSeconds} s.`,
      '',
      '| Measure | Value |',
      '| --- | --- |',
      `| Tick with nothing due, ${p.idleTick.inFlight.toLocaleString('en-US')} jobs in flight | ${p.idleTick.tableQueries} table query, ${p.idleTick.tableReads} point reads, ${p.idleTick.tableWrites === undefined ? '' : `${p.idleTick.tableWrites} writes, `}${p.idleTick.upstreamCalls} upstream calls, ${p.idleTick.durationMs} ms |`,
      p.notFinalized === 0
        ? `| Tick with nothing due, after all finished | ${p.idleTickAfter.tableQueries} table query, ${p.idleTickAfter.upstreamCalls} upstream calls, ${p.idleTickAfter.durationMs} ms |`
        : `| One more tick after the bounded run stopped (${p.notFinalized} jobs still due) | ${p.idleTickAfter.tableQueries} table query, ${p.idleTickAfter.upstreamCalls} upstream calls, ${p.idleTickAfter.durationMs} ms |`,
      `| Upstream calls | ${p.upstreamCalls.toLocaleString('en-US')} (${p.callsPerJob} per job) |`,
      `| Backoff schedule's minimum (polls exactly on time, no jitter) | ${p.minimumCalls.toLocaleString('en-US')} (${p.minimumPerJob} per job) |`,
      `| Ratio | **${p.callsRatio}×** |`,
      `| Upstream completion → finalized | p50 ${s(p.finalizationDelay.p50)}, p90 ${s(p.finalizationDelay.p90)}, **p99 ${s(p.finalizationDelay.p99)}**, max ${s(p.finalizationDelay.max)} |`,
      `| Ticks | ${p.ticks}; busiest: ${p.busiestTick.due} due in ${p.busiestTick.durationMs} ms; ${p.budgetExhaustedTicks} stopped by the budget |`,
      `| Not finalized / finalized twice / tick errors | ${p.notFinalized} / ${p.finalizedTwice} / ${p.errors} |`,
      `| Table round trips, all ticks | ${p.storage.queries.toLocaleString('en-US')} queries, ${p.storage.reads.toLocaleString('en-US')} reads, ${p.storage.writes.toLocaleString('en-US')} writes (${p.storage.perUpstreamCall} per upstream call) |`,
      ...(p.steps ? stepRows(p.steps) : []),
      '',
    );
  }
  lines.push(...pollerWebhooksSection(r.scenarios.pollerWebhooks));
  const d = r.scenarios.documents;
  if (d) {
    lines.push('## 4. Document path', '');
    if (!d.landed) lines.push(`Not run: ${d.note ?? ''}`, '');
    else lines.push(...(d.markdown ?? []), '');
  }
  const c = r.scenarios.coldstart;
  if (c) {
    lines.push(
      '## 5. Cold start',
      '',
      `Each import runs in a fresh \`node\` process with an empty environment (no app settings, so an import that`,
      `read configuration would fail), \`@azure/functions-core\` replaced by a stub that records registrations, and`,
      '`net.Socket.prototype.connect` counted from before the import until 300 ms after it. The two kinds of',
      `process alternate, ${c.runs} of each after one warm-up each.`,
      '',
      '| Import | p50 | p90 | max |',
      '| --- | ---: | ---: | ---: |',
      `| \`@azure/functions\` alone | ${ms(c.library.p50, 1)} | ${ms(c.library.p90, 1)} | ${ms(c.library.max, 1)} |`,
      `| production entry (\`dist/functions/*.js\`, ${c.registrations} functions) | ${ms(c.app.p50, 1)} | ${ms(c.app.p90, 1)} | ${ms(c.app.max, 1)} |`,
      '',
      `Ratio (p50): **${c.ratioP50}×**. Connections opened at import: **${c.connectsAtImport}**${c.connectTargets.length ? ` (${c.connectTargets.join(', ')})` : ''}.`,
      '',
      ...(c.packages && Object.keys(c.packages).length
        ? [
            "Packages the app's own files require at import, inclusive time p50 (includes `@azure/functions` itself):",
            '',
            '| Package | ms |',
            '| --- | ---: |',
            ...Object.entries(c.packages).map(([name, t]) => `| \`${name}\` | ${t} |`),
            '',
          ]
        : []),
    );
  }
  lines.push(analysis.trim(), '');
  lines.push(
    '## Reproduce',
    '',
    '```bash',
    'npm ci',
    'npm run bench            # everything: about 35 minutes on 2 cores, most of it the 10,000-job poller',
    'npx tsc -p tsconfig.build.json && node dist/tools/bench/index.js --only overhead,streaming --quick',
    '```',
    '',
    'Options: `--only <scenarios>` (overhead, streaming, poller, documents, coldstart), `--quick` (fewer samples,',
    '1,000 poller jobs), `--poller-jobs <n>`, `--poller-instances 1,2,3` (the poller through the queue with that many hosts), `--no-docs` (leave docs/ untouched). Raw figures of the last run are in',
    '`bench-results/latest.json` (git-ignored).',
    '',
  );
  return lines.join('\n');
}

const COLORS = { direct: '#8c8c8c', service: '#1f6feb' };

/** Grouped horizontal bars: p50/p90/p99 of each overhead case, direct vs service. */
export function latencySvg(rows: OverheadRow[]): string {
  const pcts = ['p50', 'p90', 'p99'] as const;
  const barH = 9;
  const groupGap = 16;
  const labelW = 230;
  const chartW = 520;
  const top = 40;
  const groupH = pcts.length * 2 * barH + (pcts.length - 1) * 4;
  const height = top + rows.length * (groupH + groupGap) + 40;
  const width = labelW + chartW + 90;
  const max = Math.max(
    ...rows.flatMap((r) => pcts.flatMap((p) => [r.direct.latency[p], r.service.latency[p]])),
  );
  const scale = (v: number) => (v / max) * chartW;
  const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="10" y="18" font-size="13" font-weight="bold">Latency percentiles (ms): direct to the emulator vs through the service</text>`,
    `<rect x="${labelW}" y="26" width="10" height="8" fill="${COLORS.direct}"/><text x="${labelW + 14}" y="34">direct</text>`,
    `<rect x="${labelW + 70}" y="26" width="10" height="8" fill="${COLORS.service}"/><text x="${labelW + 84}" y="34">service</text>`,
  ];
  rows.forEach((r, gi) => {
    const y0 = top + gi * (groupH + groupGap);
    parts.push(
      `<text x="10" y="${y0 + groupH / 2 + 4}" font-weight="bold">${esc(`${r.op}, c=${r.concurrency}`)}</text>`,
    );
    pcts.forEach((p, pi) => {
      const y = y0 + pi * (2 * barH + 4);
      parts.push(`<text x="${labelW - 8}" y="${y + barH + 4}" text-anchor="end">${p}</text>`);
      (['direct', 'service'] as const).forEach((path, k) => {
        const v = r[path].latency[p];
        const w = Math.max(1, scale(v));
        const yy = y + k * barH;
        parts.push(
          `<rect x="${labelW}" y="${yy}" width="${w.toFixed(1)}" height="${barH - 1}" fill="${COLORS[path]}"/>`,
          `<text x="${(labelW + w + 4).toFixed(1)}" y="${yy + barH - 1}" font-size="9">${v.toFixed(2)}</text>`,
        );
      });
    });
  });
  const axisY = height - 24;
  parts.push(`<line x1="${labelW}" y1="${axisY}" x2="${labelW + chartW}" y2="${axisY}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const x = labelW + (chartW * i) / 4;
    parts.push(
      `<line x1="${x}" y1="${axisY}" x2="${x}" y2="${axisY + 4}" stroke="#333"/>`,
      `<text x="${x}" y="${axisY + 15}" text-anchor="middle">${((max * i) / 4).toFixed(1)} ms</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

export function writeOutputs(r: BenchResults, opts: { docs: boolean; analysis?: string }): void {
  const dir = join(repoRoot, 'bench-results');
  mkdirSync(dir, { recursive: true });
  const json = JSON.stringify({ ...r, verdicts: verdicts(r) }, null, 2) + '\n';
  writeFileSync(join(dir, 'latest.json'), json);
  writeFileSync(join(dir, `${r.startedAt.replace(/[:.]/g, '-')}.json`), json);
  if (!opts.docs) return;
  writeFileSync(join(repoRoot, 'docs', 'benchmarks.md'), markdown(r, opts.analysis ?? ''));
  if (r.scenarios.overhead) {
    writeFileSync(join(repoRoot, 'docs', 'benchmarks-latency.svg'), latencySvg(r.scenarios.overhead.rows));
  }
}

/** Section 3b: the poller workload with Azure OpenAI's webhooks on (poller-webhooks.ts). */
function pollerWebhooksSection(w: PollerWebhooksResult | undefined): string[] {
  if (!w) return [];
  const sec = (v: number) => `${(v / 1000).toFixed(2)} s`;
  return [
    '## 3b. Poller with upstream webhooks on',
    '',
    `The workload of section 3 (${w.jobs.toLocaleString('en-US')} jobs ending over ${sec(w.durationsMs.min)}–${sec(w.durationsMs.max)}), with the emulator`,
    "sending Azure OpenAI's signed webhook when each response ends to a receiver that runs `handleUpstreamWebhook` (the",
    '`upstream-webhooks` route without the host); the poller keeps ticking as the backstop.',
    '',
    '| Measure | Value |',
    '| --- | --- |',
    `| Upstream completion → finalized | p50 ${sec(w.finalizationDelay.p50)}, p90 ${sec(w.finalizationDelay.p90)}, **p99 ${sec(w.finalizationDelay.p99)}**, max ${sec(w.finalizationDelay.max)} (target p99 ≤ ${sec(w.targetP99Ms)}) |`,
    `| Same, jobs that ended after seeding (${w.seedSeconds} s) was over | p50 ${sec(w.finalizationDelayAfterSeeding.p50)}, **p99 ${sec(w.finalizationDelayAfterSeeding.p99)}** |`,
    `| Handling one delivery (verify, read upstream, claim, finalize) | p50 ${w.processing.p50.toFixed(0)} ms, p99 ${w.processing.p99.toFixed(0)} ms |`,
    `| Finalized by the webhook / by the poller / not finalized | ${w.finalizedByWebhook} / ${w.finalizedByPoller} / ${w.notFinalized} |`,
    `| Deliveries | ${Object.entries(w.outcomes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')} |`,
    `| Upstream polls (one instance) | ${w.polls.toLocaleString('en-US')} (${w.pollsPerSecond}/s over ${w.wallSeconds} s) |`,
    '',
  ];
}
