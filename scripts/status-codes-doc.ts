// Writes docs/status-codes.md from core/status-codes.ts, so the two never disagree.
import { writeFileSync } from 'node:fs';
import { retryableStatusCodes, statusText } from '#core/status-codes.ts';

export function renderStatusCodes(): string {
  const rows = Object.entries(statusText)
    .map(([code, text]) => `| ${code} | ${text} | ${retryableStatusCodes.has(Number(code)) ? 'yes' : 'no'} |`)
    .join('\n');
  return `# Status codes

Every job ends DONE with one of these codes. The numbers are NetBackup's where
NetBackup has one, so an administrator reads them at a glance; 0 and 1 are
successes (1 keeps the image and lists what could not be read). Generated from
\`core/status-codes.ts\` by \`npm run docs:status-codes\`; a test keeps the two equal.

| code | meaning | retried under Backup Tries |
|---:|---|---|
${rows}

Something that does not exist ends with the code of what is missing: a job
2003, an image 227, an object in a storage unit 2004, a policy 230, a storage
unit 219. A conflicting change (the record is no longer in the state the step
expects: the job ended, another job holds the backup id) is 2005 and is not
retried; writes that only kept colliding with concurrent ones are 2006 and
are retried; a job whose claim on its backup id was dropped because it was
taken for dead is 2002.

In a workflow a status travels as an error named \`Status<code>\` (for example
\`Status84\`); Step Functions' own \`States.Timeout\` and \`States.HeartbeatTimeout\`
become 41, a failed SSM command 50.

The \`cairn\` command exits 0 for status 0, 1 for status 1 and 2 for anything
else, and prints the status with every error (\`cairn: status N (meaning):
message\`, or a JSON object with \`--json\`). A wrong command line (missing
or unknown option, unknown command, an impossible \`--at\` date) is status 20
with the command's usage line; a rejected policy file is status 230 and names
the file, the field and the rule; an error Cairn did not expect is status 2000
with its message.
`;
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  writeFileSync(new URL('../docs/status-codes.md', import.meta.url), renderStatusCodes());
}
