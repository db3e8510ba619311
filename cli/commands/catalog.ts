import type { Command } from 'commander';
import { registerCatalogCheck } from './catalog-check.ts';
import { registerCatalogDr } from './catalog-dr.ts';

/**
 * `cairn catalog`: the catalog's own duties. Its consistency check (nsrck,
 * bpdbm -consistency: catalog-check.ts) and its protection (NetBackup's
 * catalog backup and bpimport, NetWorker's bootstrap: catalog-dr.ts, with
 * backup, recover and import). Each subcommand lives in a file of its own.
 */
export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the catalog itself: check it against storage, jobs and media; back it up, recover it from a DR file, import images from a storage unit');
  registerCatalogCheck(catalog);
  registerCatalogDr(catalog);
}
