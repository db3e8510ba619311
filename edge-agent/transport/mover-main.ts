import { Command } from 'commander';
import type { AwsClients } from '#aws/clients.ts';
import type { ObjectStore } from '#core/ports/object-store.ts';
import { moverProcess } from '../offhost/mover-process.ts';
import { storageUnitOpener, type S3StorageUnit } from './open-storage-unit.ts';

/**
 * `cairn-agent mover --job FILE`, the offhost data mover's process, as an
 * entry of its own (bin/cairn-agent.js and the one-file agent bundle start
 * it for `mover` without loading the agent's main.ts). Why: the agent's
 * main loads every command's adapters, the AWS SDK first, about a second
 * of start-up on a loaded host that every offhost job paid before its
 * first device read. The mover needs the image writer and a disk store;
 * the S3 adapter (and with it the SDK) is imported only when the job's
 * storage unit is S3.
 *
 * A composition root like main.ts (the two files that may import aws/):
 * it builds the S3 store and hands the mover only ports.
 */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('cairn-agent').description('Cairn edge agent: the offhost data mover');
  addMoverCommand(program);
  await program.parseAsync(argv);
}

/** The `mover` command on `program` (also main.ts's, so `cairn-agent --help` lists it). */
export function addMoverCommand(program: Command): void {
  program
    .command('mover')
    .description('the offhost data mover: read the files of an extent map from the device and write their image (docs/offhost.md); one JSON line a message on stdout')
    .requiredOption('--job <file>', 'the mover job the agent wrote: the backup task, the extent map, the device')
    .option('--region <region>', 'AWS region for an S3 storage unit (default AWS_REGION)', process.env.AWS_REGION)
    .option('--endpoint <url>', 'AWS endpoint (an emulator)')
    .action(async (options: { job: string; region?: string; endpoint?: string }) => {
      // AWS clients only for an S3 unit: a mover writing to a disk unit needs no region, and loads no SDK.
      let clients: AwsClients | undefined;
      const openS3 = async (unit: S3StorageUnit): Promise<ObjectStore> => {
        const [{ createAwsClients }, { s3StorageUnitStore }] = await Promise.all([import('#aws/clients.ts'), import('#aws/s3-object-store.ts')]);
        clients ??= createAwsClients({ region: options.region, endpoint: options.endpoint });
        return s3StorageUnitStore(unit, clients.s3);
      };
      try {
        process.exitCode = await moverProcess(options.job, storageUnitOpener(openS3));
      } finally {
        clients?.destroy();
      }
    });
}
