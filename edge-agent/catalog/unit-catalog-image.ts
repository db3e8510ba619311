import type { CatalogImageWriter } from '#core/jobs/catalog-job.ts';
import { drObjectKey } from '#core/jobs/catalog-job.ts';
import type { StorageUnit } from '#core/model/storage-unit.ts';
import { writeCatalogImage, type CatalogImageDeps, type CatalogImageOptions } from './catalog-image.ts';

/**
 * The catalog image writer of a runtime with no home folder of its own
 * (the catalog-job Lambda): the image is written as `writeCatalogImage`
 * writes it, and its DR file is kept as an object on the same unit, next
 * to the image (`catalog-dr/<backupId>.dr.json`, core/jobs/catalog-job.ts
 * drObjectKey), whose `s3://bucket/key` the job records:
 * `cairn --aws catalog recover --dr-file s3://...` reads it from there.
 * `workDir` is a fixed folder (the Lambda's /tmp/...), so a copy a killed
 * run left there is removed by a later run.
 */
export function unitCatalogImageWriter(deps: Omit<CatalogImageDeps, 'claimFor'>, options: Pick<CatalogImageOptions, 'workDir' | 'fileName' | 'produce'>): CatalogImageWriter {
  return async (unit, { retentionDays, claimFor }) => {
    const outcome = await writeCatalogImage({ ...deps, claimFor }, unit, {
      ...options,
      runtime: 'cloud',
      saveDr: async (dr) => {
        const key = drObjectKey(dr.backupId);
        await (await deps.openStore(unit)).put(key, Buffer.from(`${JSON.stringify(dr, null, 2)}\n`));
        return objectUrl(unit, key);
      },
      ...(retentionDays === undefined ? {} : { retentionDays }),
    });
    return { backupId: outcome.image.backupId, drFile: outcome.drFile, catalogBytes: outcome.dr.catalogBytes };
  };
}

/** An object's address on its unit: `s3://bucket/prefix/key`, or the path of a disk unit's file. */
function objectUrl(unit: StorageUnit, key: string): string {
  if (unit.kind === 's3') {
    const prefix = unit.prefix.replace(/\/+$/, '');
    return `s3://${unit.bucket}/${prefix === '' ? '' : `${prefix}/`}${key}`;
  }
  return unit.kind === 'disk' ? `${unit.path.replace(/\/+$/, '')}/${key}` : key;
}
