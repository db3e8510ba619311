import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { CreateDocumentCommand, SendCommandCommand } from '@aws-sdk/client-ssm';
import { emulatorClients, startAwsEmulator } from '../setup/aws-emulator.ts';
import { s3Location, SsmShim } from './ssm-shim.ts';

const emulator = await startAwsEmulator();
const skip = 'skip' in emulator ? emulator.skip : undefined;
afterAll(() => ('stop' in emulator ? emulator.stop() : undefined));

const INSTANCE = 'mi-0123456789abcdef0';

/** A document shaped like Cairn's: a download, then a script that uses both the env variable and the text. */
function documentContent(): string {
  return JSON.stringify({
    schemaVersion: '2.2',
    description: 'shim test',
    parameters: {
      word: { type: 'String', interpolationType: 'ENV_VAR', allowedPattern: '^[^\\r\\n]+$' },
      bundleUrl: { type: 'String', default: 'https://shim-bucket.s3.us-east-1.amazonaws.com/assets/tool.txt' },
    },
    mainSteps: [
      { action: 'aws:downloadContent', name: 'fetch', inputs: { sourceType: 'S3', sourceInfo: '{"path":"{{ bundleUrl }}"}', destinationPath: '/opt/shim-test/' } },
      { action: 'aws:runShellScript', name: 'run', inputs: { workingDirectory: '/opt/shim-test', runCommand: ['printf "%s|%s|%s" "${SSM_word-unset}" "{{ word }}" "$(cat tool.txt)" > out.txt'] } },
    ],
  });
}

describe.skipIf(Boolean(skip))(`the SSM shim runs sent commands as the SSM Agent would${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('downloads from S3 into the sandboxed absolute path, runs in its working directory, substitutes the text and exports ENV_VAR parameters (new agent) or not (old agent)', async () => {
    if ('skip' in emulator) return;
    const clients = emulatorClients(emulator.endpoint);
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'shim-bucket' }));
    await clients.s3.send(new PutObjectCommand({ Bucket: 'shim-bucket', Key: 'assets/tool.txt', Body: 'fetched' }));
    await clients.ssm.send(new CreateDocumentCommand({ Name: 'ShimTest', DocumentType: 'Command', DocumentFormat: 'JSON', Content: documentContent() }));

    for (const envVars of [true, false]) {
      const shim = new SsmShim({ ssm: clients.ssm, s3: clients.s3, instanceId: INSTANCE, documentName: 'ShimTest', envVars });
      await shim.start();
      await clients.ssm.send(new SendCommandCommand({ DocumentName: 'ShimTest', InstanceIds: [INSTANCE], Parameters: { word: ['hello world'] } }));
      await shim.poll();
      await shim.stop();
      expect(shim.runs).toHaveLength(1);
      const [run] = shim.runs;
      expect(run!.stderr).toBe('');
      expect(run!.exitCode).toBe(0);
      expect(readFileSync(join(shim.root, 'opt/shim-test/out.txt'), 'utf8')).toBe(`${envVars ? 'hello world' : 'unset'}|hello world|fetched`);
    }
  });
});

describe('S3 object URLs the shim downloads', () => {
  it('reads virtual-hosted, path-style and endpoint URLs', () => {
    expect(s3Location('https://b.s3.eu-west-1.amazonaws.com/a/b.mjs')).toEqual({ bucket: 'b', key: 'a/b.mjs' });
    expect(s3Location('https://s3.amazonaws.com/b/a/b.mjs')).toEqual({ bucket: 'b', key: 'a/b.mjs' });
    expect(s3Location('http://127.0.0.1:4566/b/k%20x')).toEqual({ bucket: 'b', key: 'k x' });
    expect(() => s3Location('https://s3.amazonaws.com/nokey')).toThrow(/not an S3 object URL/);
  });
});
