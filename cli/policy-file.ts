import { closeSync, openSync, readSync } from 'node:fs';
import { type CST, Lexer, LineCounter, Parser, parseAllDocuments } from 'yaml';
import { CairnError, ValidationError } from '#core/errors.ts';
import { fsReason } from './errno-text.ts';
import { StatusCode } from '#core/status-codes.ts';

/**
 * Limits on a policy file, checked before the YAML is turned into data. A
 * policy file is a few KiB and about six levels deep; the limits are far
 * above that and far below what hurts: the YAML composer recurses once per
 * level (100,000 nested `[` overflow the stack), and every alias expansion
 * multiplies the work zod and the store do with the result (billion laughs).
 */
export const POLICY_FILE_LIMITS = { bytes: 1024 * 1024, nesting: 64, aliases: 100 } as const;

const REJECTED = 'policy file rejected, nothing was changed';

/**
 * A policy file: one policy, several YAML documents, or a list (`policies:`
 * or a top-level array). Every problem is a ValidationError (status 230)
 * whose details start with the file name; a file that cannot be read is
 * status 20 naming it.
 */
export function readPolicyFile(path: string): unknown[] {
  const text = readBounded(path, POLICY_FILE_LIMITS.bytes);
  const tooDeep = deeperThan(text, POLICY_FILE_LIMITS.nesting);
  if (tooDeep) throw rejected(path, [`${tooDeep}: nested more than ${POLICY_FILE_LIMITS.nesting} levels deep (a policy needs about 6)`]);
  const docs = parseAllDocuments(text);
  const syntax = docs.flatMap((d) => d.errors.map((e) => `${path}: ${e.message.split('\n')[0]!.replace(/:$/, '')}`));
  if (syntax.length > 0) throw new ValidationError('policy file is not valid YAML or JSON, nothing was changed', syntax, { statusCode: StatusCode.INVALID_POLICY });
  return docs.flatMap((d, i) => {
    const value = toData(() => d.toJS({ maxAliasCount: POLICY_FILE_LIMITS.aliases }), path, docs.length > 1 ? `document ${i + 1}: ` : '');
    if (Array.isArray(value)) return value;
    if (value && typeof value === 'object' && 'policies' in value && Array.isArray((value as { policies: unknown }).policies)) return (value as { policies: unknown[] }).policies;
    return value === null || value === undefined ? [] : [value];
  });
}

/** The problems of a rejected policy file, each once and prefixed with the file: `FILE: document 1 (p): field: rule`. */
export function inPolicyFile(path: string, error: unknown): unknown {
  if (!(error instanceof ValidationError)) return error;
  return new ValidationError(error.summary, error.details.map((d) => `${path}: ${d}`), { statusCode: error.statusCode, cause: error });
}

function rejected(path: string, problems: string[]): ValidationError {
  return new ValidationError(REJECTED, problems.map((p) => `${path}: ${p}`), { statusCode: StatusCode.INVALID_POLICY });
}

function toData(convert: () => unknown, path: string, where: string): unknown {
  try {
    return convert();
  } catch (error) {
    // yaml throws a ReferenceError when aliases expand past maxAliasCount.
    if (error instanceof ReferenceError && /alias/i.test(error.message)) {
      throw rejected(path, [`${where}aliases expand more than ${POLICY_FILE_LIMITS.aliases} times (a YAML alias bomb)`]);
    }
    if (error instanceof RangeError) throw rejected(path, [`${where}nested too deeply to read`]);
    throw rejected(path, [`${where}cannot be read as data: ${(error as Error).message}`]);
  }
}

/**
 * Where the file nests collections deeper than `limit`, as `line L, column C`,
 * or undefined. Flow nesting (`[[[[`) is caught by streaming the lexer, which
 * stops at the first bracket too many; block nesting (`- - - -`) by walking
 * yaml's concrete syntax tree with an explicit stack. Neither recurses, so
 * this holds for any depth.
 */
function deeperThan(text: string, limit: number): string | undefined {
  const lines = new LineCounter();
  const position = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const stack: [CST.Token, number][] = [];
  const flow = flowDeeperThan(text, limit);
  if (flow !== undefined) {
    // LineCounter learns lines from the parser; feed it the newlines up to the offending bracket.
    lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i !== -1 && i < flow; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
    return position(flow);
  }
  stack.push(...[...new Parser(lines.addNewLine).parse(text)].map((token): [CST.Token, number] => [token, 0]));
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [token, depth] = next;
    if (token.type === 'document' && token.value) stack.push([token.value, depth]);
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth >= limit) return position(token.offset);
    for (const item of token.items) {
      if ('key' in item && item.key) stack.push([item.key, depth + 1]);
      if (item.value) stack.push([item.value, depth + 1]);
    }
  }
  return undefined;
}

/** The offset of the first flow bracket nested deeper than `limit`, or undefined. */
function flowDeeperThan(text: string, limit: number): number | undefined {
  let depth = 0;
  let offset = 0;
  for (const lexeme of new Lexer().lex(text)) {
    // The lexer marks documents, scalars and flow ends with one control character that is not in the source.
    if (lexeme.length === 1 && lexeme < ' ' && lexeme !== '\t' && lexeme !== '\n') continue;
    if (lexeme === '[' || lexeme === '{') {
      if (++depth > limit) return offset;
    } else if (lexeme === ']' || lexeme === '}') depth--;
    offset += lexeme.length;
  }
  return undefined;
}

/** The file's text, refusing more than `max` bytes without reading them (the path may be a device or a huge file). */
function readBounded(path: string, max: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `-f ${path}: cannot read the policy file: ${fsReason(error)}`, { cause: error });
  }
  try {
    const buffer = Buffer.alloc(max + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > max) throw rejected(path, [`larger than ${max / 1024 / 1024} MiB (a policy file is a few KiB)`]);
    return buffer.toString('utf8', 0, length);
  } catch (error) {
    if (error instanceof CairnError) throw error;
    throw new CairnError(StatusCode.INVALID_COMMAND_USAGE, `-f ${path}: cannot read the policy file: ${fsReason(error)}`, { cause: error });
  } finally {
    closeSync(fd);
  }
}
