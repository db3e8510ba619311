#!/usr/bin/env node
// The `cairn` command: the compiled bundle (dist/cairn.js, built by
// `npm run build`, which `npm ci` runs) when it is up to date, else
// cli/main.ts through tsx. See launch.js.
import { load } from './launch.js';

const { main } = await load(import.meta.url, 'cairn.js', () => import('../cli/main.ts'));
await main(process.argv);
