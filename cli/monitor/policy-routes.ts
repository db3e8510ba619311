import { NotFoundError } from '#core/errors.ts';
import { HttpError } from './http-reply.ts';
import { loadSettings, saveSetting } from '#core/settings.ts';
import { policyYaml } from '../policy-yaml.ts';
import { duePreview } from '../schedule-preview.ts';
import { parseDueQuery, policyRow } from './policies-view.ts';
import type { MonitorRoute } from './route.ts';

/**
 * The Policies and Schedule pages: the policies (read-only: they change by
 * `cairn policy apply`, from files kept in git), one policy's YAML as
 * `cairn policy show NAME --yaml` prints it, the due preview of
 * `cairn schedule due --all` for a chosen instant, and the scheduler's
 * suspend and resume.
 */
export const POLICY_ROUTES: MonitorRoute[] = [
  {
    method: 'GET',
    path: /^\/api\/policies$/,
    handle: async ({ backend }) => {
      const [policies, settings] = await Promise.all([backend.config.listPolicies(), loadSettings(backend.config)]);
      return { schedulerSuspended: settings.schedulerSuspended, policies: policies.map(policyRow) };
    },
  },
  {
    method: 'GET',
    path: /^\/api\/policies\/([^/]+)$/,
    handle: async ({ match, backend }) => {
      const name = decoded(match[1]!);
      const policy = await backend.config.getPolicy(name);
      if (!policy) throw new NotFoundError('policy', name);
      return { ...policyRow(policy), yaml: policyYaml(policy) };
    },
  },
  {
    method: 'GET',
    path: /^\/api\/schedule\/due$/,
    handle: async ({ url, backend }) => {
      const query = parseDueQuery(url.searchParams);
      return duePreview(backend, query.at ?? backend.clock.now(), { policy: query.policy, client: query.client });
    },
  },
  // `cairn schedule suspend` / `resume`: one switch for the whole scheduler (the schedulerSuspended setting), not a policy's or a client's; like the CLI, setting it to what it already is answers as the first time did. The setting keeps no record of who set it.
  ...(['suspend', 'resume'] as const).map(
    (action): MonitorRoute => ({
      method: 'POST',
      path: new RegExp(`^/api/schedule/${action}$`),
      handle: async ({ backend }) => {
        const schedulerSuspended = action === 'suspend';
        await saveSetting(backend.config, 'schedulerSuspended', schedulerSuspended);
        return { schedulerSuspended };
      },
    }),
  ),
];

/** A path segment as the page sent it (encodeURIComponent); a malformed escape is a 400 naming it. */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `policy name: ${JSON.stringify(segment)} is not valid percent-encoding`);
  }
}
