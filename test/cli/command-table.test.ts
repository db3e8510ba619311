import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { COMMANDS, ROOT_FLAGS, ROOT_OPTIONS_WITH_VALUE, commandsFor } from '#cli/command-table.ts';
import { buildProgram } from '#cli/main.ts';

const argv = (...args: string[]): string[] => ['node', 'cairn', ...args];
const namesOf = (program: Command): string[] => program.commands.flatMap((c) => [c.name(), ...c.aliases()]);

/** Every command's help text, subcommands included, by its path. */
function helpTexts(program: Command): Map<string, string> {
  const texts = new Map<string, string>();
  const walk = (command: Command, path: string): void => {
    for (const sub of command.commands) {
      texts.set(`${path} ${sub.name()}`, sub.helpInformation());
      walk(sub, `${path} ${sub.name()}`);
    }
  };
  walk(program, 'cairn');
  return texts;
}

describe('lazy command registration', () => {
  it('names in its table exactly the commands and aliases each module registers, in help order', async () => {
    const registered: string[] = [];
    for (const entry of COMMANDS) {
      const program = new Command('cairn');
      (await entry.load())(program);
      expect(namesOf(program), `the module of ${entry.names[0]}`).toEqual(entry.names);
      registered.push(...namesOf(program));
    }
    expect(namesOf(await buildProgram(argv('--help')))).toEqual(registered);
  });

  it('knows every root option that takes a value, so the value is never taken for the command', async () => {
    const program = await buildProgram(argv('--help'));
    const rootOptions = program.options.filter((o) => o.long !== '--version' && o.long !== '--help');
    expect(new Set(rootOptions.filter((o) => o.required || o.optional).map((o) => o.long))).toEqual(ROOT_OPTIONS_WITH_VALUE);
    expect(new Set(rootOptions.filter((o) => !o.required && !o.optional).map((o) => o.long))).toEqual(ROOT_FLAGS);
  });

  it.each([
    [['images', '--json'], ['images']],
    [['--home', 'images', 'jobs', 'show', '3'], ['jobs']],
    [['--home=/h', '--aws', '--region', 'eu-west-1', 'stu', 'list'], ['storage-unit', 'stu']],
    [['config', 'get'], ['config']],
  ])('loads only the command a command line names: %j', (args, names) => {
    expect(commandsFor(args).map((entry) => entry.names)).toEqual([names]);
  });

  it.each([[[]], [['--help']], [['-V']], [['help', 'images']], [['imagez']], [['--bogus', 'images']], [['--home']]])('loads every command when the command line names none for certain: %j', (args) => {
    expect(commandsFor(args)).toBe(COMMANDS);
  });

  it('gives a command the same help whether it is registered alone or with all the others', async () => {
    const all = helpTexts(await buildProgram(argv('--help')));
    for (const entry of COMMANDS) {
      const alone = helpTexts(await buildProgram(argv(entry.names[0]!)));
      expect(alone.size).toBeGreaterThan(0);
      for (const [path, text] of alone) expect(text, path).toBe(all.get(path));
    }
  });
});
