/**
 * A process that creates one btrfs image and is killed (-9) while it does:
 * `node --import tsx create-child.ts SOURCE_ROOT JOB_ID`. Its runner prints
 * `running <argv>` before each tool starts and `ran <argv>` once it ended,
 * so the test can kill it at a chosen step; `done` after create resolved.
 */
import { BtrfsSnapshotProvider } from '#agent/snapshot/btrfs-provider.ts';
import { type RunTool, runTool } from '#agent/snapshot/run-tool.ts';
import { cairnSnapshotName } from '#core/model/snapshot.ts';

const [sourceRoot, job] = process.argv.slice(2);
const jobId = Number(job);
const run: RunTool = async (file, args) => {
  process.stdout.write(`running ${[file, ...args].join(' ')}\n`);
  const result = await runTool(file, args);
  process.stdout.write(`ran ${[file, ...args].join(' ')}\n`);
  return result;
};
await new BtrfsSnapshotProvider({ run }).create({ sourceRoot: sourceRoot!, name: cairnSnapshotName(jobId, sourceRoot!), jobId, createdAt: new Date(0).toISOString() });
process.stdout.write('done\n');
