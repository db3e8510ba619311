import { describeConfigStoreContract } from '#test/contracts/config-store-contract.ts';
import { describeJobStoreContract } from '#test/contracts/job-store-contract.ts';
import { describeCatalogStoreContract } from '#test/contracts/catalog-store-contract.ts';
import { describeMediaStoreContract } from '#test/contracts/media-store-contract.ts';
import { describeObjectStoreContract } from '#test/contracts/object-store-contract.ts';
import { describeExecutionStarterContract } from '#test/contracts/execution-starter-contract.ts';
import { MemoryExecutionStarter, MemoryExecutions } from './memory-execution-starter.ts';
import { MemoryConfigStore } from './memory-config-store.ts';
import { MemoryJobStore } from './memory-job-store.ts';
import { MemoryCatalogStore } from './memory-catalog-store.ts';
import { MemoryMediaStore } from './memory-media-store.ts';
import { MemoryObjectStore } from './memory-object-store.ts';

describeConfigStoreContract('memory', async () => ({ store: new MemoryConfigStore() }));
describeJobStoreContract('memory', async () => ({ store: new MemoryJobStore() }));
describeCatalogStoreContract('memory', async () => ({ store: new MemoryCatalogStore() }));
describeMediaStoreContract('memory', async () => ({ store: new MemoryMediaStore() }));
describeObjectStoreContract('memory', async () => ({ store: new MemoryObjectStore() }));

describeExecutionStarterContract('memory', async () => {
  const executions = new MemoryExecutions();
  return {
    starter: new MemoryExecutionStarter(executions),
    laterStarter: new MemoryExecutionStarter(executions),
    executions: async (name) => (executions.started.has(name) ? [executions.started.get(name)] : []),
  };
});
