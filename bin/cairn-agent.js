#!/usr/bin/env node
// The edge agent's command, run by the Cairn-RunBackupTask SSM document.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../edge-agent/transport/main.ts');
await main(process.argv);
