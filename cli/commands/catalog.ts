import type { Command } from 'commander';
import { registerCatalogDr } from './catalog-dr.ts';

/**
 * `cairn catalog`: the catalog's own protection (NetBackup's catalog
 * backup and bpimport, NetWorker's bootstrap). The subcommands live in
 * files of their own (catalog-dr.ts: backup, recover, import), so others
 * (such as a consistency check) add theirs next to them.
 */
export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('protect and rebuild the catalog: backup, recover from a DR file, import images from a storage unit');
  registerCatalogDr(catalog);
}
