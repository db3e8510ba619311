#!/usr/bin/env node
// The `cairn` command. The sources are TypeScript run through tsx, so a
// checkout needs no build step: `npx cairn ...` works after `npm ci`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
