import type { Command } from 'commander';
import { registerCatalogCheck } from './catalog-check.ts';

/** `cairn catalog ...`: the catalog's own duties (its consistency check; catalog backup and recovery register here too). */
export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the image catalog itself: check it against storage, jobs and media');
  registerCatalogCheck(catalog);
}
