#!/usr/bin/env node
// The edge agent's command, run by the Cairn-RunBackupTask SSM document: the
// compiled bundle (dist/cairn-agent.js) when it is up to date, else
// edge-agent/transport/main.ts through tsx. See launch.js.
import { load } from './launch.js';

const { main } = await load(import.meta.url, 'cairn-agent.js', () => import('../edge-agent/transport/main.ts'));
await main(process.argv);
