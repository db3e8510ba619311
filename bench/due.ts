/**
 * Due-computation benchmark: how long does `dueJobs` take for a large
 * installation, on one core?
 *
 *   node --import tsx bench/due.ts [--json] [--runs N] [--seed N] [--policies N] [--clients N]
 *
 * Generates (seeded) policies of 5 schedules each — daily incremental, weekly
 * full, hourly incremental, monthly calendar full, weekday calendar
 * cumulative — in six time zones, with windows that cross midnight, clients
 * drawn from one shared pool; by default 500 policies of 40 clients, i.e.
 * 100,000 (policy, client, schedule) triples, with 10,000 images and 5,000
 * jobs of those triples in the history. Times `dueJobs` once to warm up, then
 * `--runs` times (default 7), and reports min and median. `dueJobs` is
 * synchronous, so it runs on the main thread: one core. Exits 1 when the
 * median exceeds the goal of 1 s (issue 8).
 */
import { pathToFileURL } from 'node:url';
import { dueJobs, type DueInput } from '#core/schedule/due.ts';
import { Policy, weekdays, type PolicyInput, type ScheduleInput } from '#core/model/policy.ts';
import type { Image } from '#core/model/image.ts';
import type { BackupJob } from '#core/model/job.ts';

const GOAL_SECONDS = 1;

export interface DueBenchShape {
  seed: number;
  policies: number;
  clientsPerPolicy: number;
  images: number;
  jobs: number;
  /** How many distinct client names the policies draw from. */
  clientPool: number;
  now: Date;
}

export const defaultShape: DueBenchShape = { seed: 8, policies: 500, clientsPerPolicy: 40, images: 10_000, jobs: 5_000, clientPool: 5_000, now: new Date('2026-11-24T23:10:00Z') };

/** mulberry32: a small seeded generator, so a run can be repeated exactly. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Los_Angeles'];
const pad = (n: number): string => String(n).padStart(2, '0');

/**
 * A due input of the given shape. Every policy has its own window times, so
 * window openings repeat per policy (shared by its clients), not across the
 * installation; a few policies are inactive.
 */
export function generateDueInput(shape: DueBenchShape): DueInput {
  const random = seeded(shape.seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const at = (hour: number): string => `${pad(hour % 24)}:${pick(['00', '15', '30', '45'])}`;
  const policies: Policy[] = [];
  for (let p = 0; p < shape.policies; p++) {
    const evening = int(18, 23);
    const schedules: ScheduleInput[] = [
      { name: 'daily-incr', type: 'differential-incremental', frequency: '1d', windows: [{ days: [...weekdays], start: at(evening), duration: `${int(4, 10)}h` }] },
      { name: 'weekly-full', type: 'full', frequency: '1w', windows: [{ days: [pick(['fri', 'sat', 'sun'])], start: at(evening), duration: `${int(8, 30)}h` }] },
      { name: 'hourly-incr', type: 'differential-incremental', frequency: pick(['1h', '2h', '4h']), windows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: at(int(0, 8)), duration: `${int(12, 24)}h` }] },
      { name: 'monthly-full', type: 'full', calendar: { lastDayOfMonth: true, daysOfMonth: [int(1, 28)], excludeDates: ['2026-12-31'] }, windows: [{ days: [...weekdays], start: at(int(0, 23)), duration: `${int(2, 12)}h` }] },
      {
        name: 'weekday-cumulative',
        type: 'cumulative-incremental',
        calendar: { weekdays: ['mon', 'wed', 'fri'], dates: ['2026-11-24'] },
        windows: [
          { days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: at(22), duration: '8h' },
          { days: ['sat', 'sun'], start: at(int(6, 12)), duration: '6h' },
        ],
      },
    ];
    const clients = new Set<string>();
    while (clients.size < shape.clientsPerPolicy) clients.add(`client-${int(1, shape.clientPool)}`);
    const input: PolicyInput = {
      name: `policy-${p}`,
      active: random() > 0.02,
      priority: int(0, 5),
      timeZone: pick(ZONES),
      clients: [...clients].map((name) => ({ name, priority: int(1, 1000) })),
      selections: ['/data'],
      storageUnit: 'disk1',
      schedules,
    };
    policies.push(Policy.parse(input));
  }
  const triple = (): { policy: Policy; client: string; schedule: Policy['schedules'][number] } => {
    const policy = pick(policies);
    return { policy, client: pick(policy.clients).name, schedule: pick(policy.schedules) };
  };
  const now = shape.now.getTime();
  const images: Image[] = [];
  for (let i = 0; i < shape.images; i++) {
    const { policy, client, schedule } = triple();
    const createdAt = new Date(now - int(0, 14 * 86_400) * 1000);
    const backupId = `${client}_${Math.floor(createdAt.getTime() / 1000)}`;
    images.push({
      backupId,
      client,
      policy: policy.name,
      schedule: schedule.name,
      level: schedule.type,
      jobId: i + 1,
      statusCode: pick([0, 0, 0, 0, 0, 0, 0, 0, 1, 84]),
      fileCount: 100,
      bytes: 1_000_000,
      createdAt: createdAt.toISOString(),
      expiresAt: new Date(createdAt.getTime() + 14 * 86_400_000).toISOString(),
      state: 'ACTIVE',
      copies: [{ copyNumber: 1, storageUnit: 'disk1', fragments: [], indexKey: `images/${client}/${backupId}/index.ndjson.gz`, indexSha256: '0'.repeat(64), manifestKey: `images/${client}/${backupId}/manifest.json` }],
    });
  }
  const jobs: BackupJob[] = [];
  for (let j = 0; j < shape.jobs; j++) {
    const { policy, client, schedule } = triple();
    // Due instants on the quarter hour, so some of them are the ones the computation arrives at.
    const dueAt = new Date(Math.floor((now - int(0, 3 * 86_400) * 1000) / 900_000) * 900_000).toISOString();
    const state = pick(['DONE', 'DONE', 'DONE', 'DONE', 'DONE', 'DONE', 'DONE', 'DONE', 'ACTIVE', 'QUEUED'] as const);
    jobs.push({
      jobId: shape.images + j + 1,
      type: 'backup',
      state,
      ...(state === 'DONE' ? { statusCode: pick([0, 0, 0, 13, 84]) } : {}),
      attempt: 1,
      attempts: [],
      progress: { files: 0, bytes: 0, throughputBps: 0, writerWaits: 0, readerWaits: 0 },
      policy: policy.name,
      client,
      schedule: schedule.name,
      level: schedule.type,
      storageUnit: 'disk1',
      selections: ['/data'],
      exclude: [],
      retentionDays: 14,
      unreadable: [],
      queuedAt: dueAt,
      updatedAt: dueAt,
      // Older jobs recorded only their window opening.
      ...(random() < 0.2 ? { windowStart: dueAt } : { dueAt, windowStart: dueAt }),
    });
  }
  return { policies, images, jobs, now: shape.now };
}

interface Options {
  json: boolean;
  runs: number;
  shape: DueBenchShape;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string, fallback: number): number => {
    const at = argv.indexOf(name);
    if (at === -1) return fallback;
    const parsed = Number(argv[at + 1]);
    if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`${name} takes a whole number of at least 1`);
    return parsed;
  };
  const shape = { ...defaultShape, seed: value('--seed', defaultShape.seed), policies: value('--policies', defaultShape.policies), clientsPerPolicy: value('--clients', defaultShape.clientsPerPolicy) };
  return { json: argv.includes('--json'), runs: value('--runs', 7), shape };
}

function main(): void {
  const options = parseArgs(process.argv.slice(2));
  const input = generateDueInput(options.shape);
  const triples = input.policies.reduce((n, p) => n + p.clients.length * p.schedules.length, 0);
  const timeOnce = (): { seconds: number; due: number; notDue: number } => {
    const started = performance.now();
    const { due, notDue } = dueJobs(input);
    return { seconds: (performance.now() - started) / 1000, due: due.length, notDue: notDue.length };
  };
  const warmUp = timeOnce();
  const seconds = Array.from({ length: options.runs }, () => timeOnce().seconds).sort((a, b) => a - b);
  const median = seconds[Math.floor(seconds.length / 2)]!;
  const report = {
    triples,
    images: input.images.length,
    jobs: input.jobs.length,
    due: warmUp.due,
    notDue: warmUp.notDue,
    warmUpSeconds: warmUp.seconds,
    runs: seconds.length,
    minSeconds: seconds[0]!,
    medianSeconds: median,
    goalSeconds: GOAL_SECONDS,
    /** Goal over median: at least 1 meets the goal. */
    ratioToGoal: GOAL_SECONDS / median,
  };
  if (options.json) process.stdout.write(`${JSON.stringify(report)}\n`);
  else {
    process.stdout.write(
      [
        `dueJobs: ${triples.toLocaleString('en')} (policy, client, schedule) triples, ${report.images.toLocaleString('en')} images, ${report.jobs.toLocaleString('en')} jobs`,
        `  ${report.due} due, ${report.notDue} not due; warm-up ${report.warmUpSeconds.toFixed(3)} s`,
        `  ${report.runs} runs: min ${report.minSeconds.toFixed(3)} s, median ${median.toFixed(3)} s (goal ≤ ${GOAL_SECONDS} s: ${report.ratioToGoal.toFixed(2)}× the goal)`,
      ].join('\n') + '\n',
    );
  }
  if (median > GOAL_SECONDS) process.exitCode = 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
