import { describe, expect, it } from 'vitest';
import { createAwsClients, resolveAwsClientOptions } from '#aws/clients.ts';

describe('AWS client options', () => {
  it('takes region and endpoint from the environment when not given', () => {
    expect(resolveAwsClientOptions({}, { AWS_REGION: 'eu-west-1', CAIRN_AWS_ENDPOINT: 'http://127.0.0.1:5000' })).toEqual({
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:5000',
    });
    expect(resolveAwsClientOptions({ region: 'us-east-2', profile: 'backup' }, { AWS_REGION: 'eu-west-1', CAIRN_AWS_ENDPOINT: '' })).toEqual({
      region: 'us-east-2',
      profile: 'backup',
    });
  });

  it('creates each client once and addresses emulated S3 buckets by path', async () => {
    const clients = createAwsClients({ region: 'us-east-1', endpoint: 'http://127.0.0.1:5000' }, {});
    try {
      expect(clients.s3).toBe(clients.s3);
      expect(clients.documents).toBe(clients.documents);
      expect(clients.s3.config.forcePathStyle).toBe(true);
      expect(await clients.dynamodb.config.region()).toBe('us-east-1');
    } finally {
      clients.destroy();
    }
  });
});
