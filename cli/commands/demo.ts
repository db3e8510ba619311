import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { primaryCopy } from '#core/model/image.ts';
import { imageJson } from '../image-json.ts';
import { CairnError } from '#core/errors.ts';
import { StatusCode, describeStatus } from '#core/status-codes.ts';
import { StorageUnit } from '#core/model/storage-unit.ts';
import { resolveCairnHome } from '#local/runtime.ts';
import { restoreImage } from '#agent/restore/restore.ts';
import { openStorageUnit } from '#local/open-storage-unit.ts';
import { type GlobalOptions, openBackend } from '../backend.ts';
import { formatBytes, note, printJson } from '../output.ts';
import { makeSampleTree } from '../demo/sample-tree.ts';
import { compareTrees } from '../demo/compare-trees.ts';

/**
 * `cairn demo`: the main job end to end on the standalone runtime. Backs up a
 * generated tree through the real state machine, restores the image into a
 * new directory, compares both byte for byte, and has GNU tar read every
 * fragment. Exits 0 only when all of it holds.
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('back up a generated sample tree, restore it, and verify it byte for byte')
    .option('--keep', 'keep the sample and restored trees')
    .option('--json', 'print JSON')
    .action(async (options: { keep?: boolean; json?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (globals.aws) throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, 'the demo runs on the standalone runtime; drop --aws');
      const json = options.json ?? globals.json;
      const say = (line: string): void => {
        if (!json) note(line);
      };
      const work = mkdtempSync(join(tmpdir(), 'cairn-demo-'));
      const backend = await openBackend(globals);
      try {
        const source = join(work, 'source');
        const sample = makeSampleTree(source);
        say(`1. sample tree ${source}: ${sample.files} files, ${formatBytes(sample.bytes)}, a symlink, a hard link, an empty dir, non-ASCII names`);

        // A storage unit with 1 MiB fragments, so the image spans several tar archives.
        const demoUnit = StorageUnit.parse({ name: 'demo-disk', kind: 'disk', path: join(resolveCairnHome(globals.home), 'storage', 'demo-disk'), fragmentSizeBytes: 1024 * 1024 });
        if (!(await backend.config.getStorageUnit(demoUnit.name))) await backend.config.putStorageUnit(demoUnit);
        const run = await backend.runBackup({ client: 'demo-client', selections: [source], storageUnit: demoUnit.name }, { onQueued: (job) => say(`2. job ${job.jobId} queued; running Queue → Reserve → Stream → Catalog → Release through backup-job.asl.json`) });
        if (run.statusCode !== 0 || !run.backupId) throw new CairnError(StatusCode.INTERNAL_ERROR, `the demo backup ended with status ${run.statusCode} (${describeStatus(run.statusCode)}): ${run.error ?? ''}`);
        const job = await backend.jobs.get(run.jobId!);
        const image = await backend.catalog.getImage(run.backupId);
        if (!job || !image) throw new CairnError(StatusCode.IMAGE_NOT_FOUND, `image ${run.backupId} is not in the catalog`);
        say(`3. job ${job.jobId} ${job.state}, status ${job.statusCode}: image ${image.backupId}, ${image.fileCount} entries, ${primaryCopy(image).fragments.length} fragment(s), ${formatBytes(image.bytes)}`);

        const copy = primaryCopy(image);
        const unit = await backend.config.getStorageUnit(copy.storageUnit);
        if (!unit) throw new CairnError(StatusCode.STORAGE_UNIT_UNAVAILABLE, `storage unit ${copy.storageUnit} is gone`);
        const target = join(work, 'restore');
        const restored = await restoreImage({ store: await openStorageUnit(unit), image, targetDir: target });
        say(`4. restored into ${target}: ${restored.files} entries, ${formatBytes(restored.bytes)}, ${restored.verified} sha256 checks passed`);

        const comparison = await compareTrees(source, join(target, source));
        if (comparison.differences.length > 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, `the restore differs from the source`, { details: comparison.differences });
        say(`5. compared byte for byte: ${comparison.files} files (${formatBytes(comparison.bytes)}), ${comparison.directories} directories, ${comparison.symlinks} symlinks, ${comparison.hardLinks} hard link(s); modes and mtimes match`);

        let gnuTarMembers = 0;
        if (unit.kind === 'disk') {
          const gnuTarTarget = join(work, 'gnu-tar');
          mkdirSync(gnuTarTarget);
          const files = copy.fragments.flatMap((f) => (f.location.kind === 'object' ? [join(unit.path, f.location.key)] : []));
          for (const file of files) gnuTarMembers += execFileSync('tar', ['-tf', file], { encoding: 'utf8' }).split('\n').filter(Boolean).length;
          // Each fragment is a whole tar archive; read as one stream (-i skips the
          // end-of-archive blocks between them), tar sets directory times once, at the end.
          execFileSync('sh', ['-c', 'cat "$@" | tar -xif - -C "$0"', gnuTarTarget, ...files]);
          const byGnuTar = await compareTrees(source, join(gnuTarTarget, source));
          if (byGnuTar.differences.length > 0) throw new CairnError(StatusCode.CORRUPT_IMAGE, 'GNU tar extracted something else than the source', { details: byGnuTar.differences });
          say(`6. GNU tar lists and extracts all ${copy.fragments.length} fragments (${gnuTarMembers} members); what it extracted matches the source byte for byte`);
        }
        if (json) printJson({ ok: true, jobId: job.jobId, statusCode: job.statusCode, backupId: image.backupId, image: imageJson(image), restored, comparison, gnuTarMembers, work: options.keep ? work : undefined });
        else say(`demo passed: job ${job.jobId} status 0, image ${image.backupId} restored and verified. See it with: npx cairn jobs; npx cairn images`);
      } finally {
        backend.close();
        if (!options.keep) rmSync(work, { recursive: true, force: true });
        else say(`kept ${work}`);
      }
    });
}
