#!/usr/bin/env node
// The edge agent's command, run by the Cairn-RunBackupTask SSM document: the
// compiled bundle (dist/cairn-agent.js) when it is up to date, else
// edge-agent/transport/main.ts through tsx. See launch.js.
//
// `cairn-agent mover` (the offhost data mover, a process each offhost job
// starts) has an entry of its own, dist/cairn-mover.js or
// edge-agent/transport/mover-main.ts, that loads what the mover needs and
// not the whole agent with the AWS SDK.
import { load } from './launch.js';

const { main } =
  process.argv[2] === 'mover'
    ? await load(import.meta.url, 'cairn-mover.js', () => import('../edge-agent/transport/mover-main.ts'))
    : await load(import.meta.url, 'cairn-agent.js', () => import('../edge-agent/transport/main.ts'));
await main(process.argv);
