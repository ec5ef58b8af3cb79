import { expect } from 'chai';
import { Command, CommanderError } from 'commander';
import { commandRegistrations } from '../../src/cli/commands.js';

/** Every command and subcommand of `rpa`, as argument paths. */
function commandPaths(command: Command, prefix: string[] = []): string[][] {
  return command.commands.flatMap((c) => {
    const path = [...prefix, c.name()];
    return c.commands.length > 0 ? [path, ...commandPaths(c, path)] : [path];
  });
}

function program(output: string[]): Command {
  const root = new Command('rpa').exitOverride().configureOutput({ writeOut: (s) => output.push(s), writeErr: (s) => output.push(s) });
  for (const register of commandRegistrations) register(root);
  // Subcommands inherit exitOverride/output only when set before they are added: apply to all.
  const apply = (c: Command) => {
    c.exitOverride().configureOutput({ writeOut: (s) => output.push(s), writeErr: (s) => output.push(s) });
    c.commands.forEach(apply);
  };
  apply(root);
  return root;
}

describe('rpa --help', () => {
  it('every command has help that exits 0, and every leaf command offers --json', async () => {
    const paths = commandPaths(program([]));
    for (const expected of [['batches', 'requeue'], ['jobs', 'show'], ['submit'], ['schedules', 'create'], ['totp', 'status'], ['pool', 'status'], ['migrate'], ['api-keys', 'create']]) {
      expect(paths).to.deep.include(expected);
    }
    for (const path of paths) {
      const output: string[] = [];
      const root = program(output);
      let exit: number | undefined;
      try {
        await root.parseAsync(['node', 'rpa', ...path, '--help']);
      } catch (error) {
        expect(error).to.be.an.instanceOf(CommanderError);
        exit = (error as CommanderError).exitCode;
      }
      expect(exit, path.join(' ')).to.equal(0);
      const text = output.join('');
      expect(text, path.join(' ')).to.match(new RegExp(`^Usage: rpa ${path.join(' ')}`));
      const leaf = root.commands.length > 0 && path.reduce<Command | undefined>((c, name) => c?.commands.find((x) => x.name() === name), root)!.commands.length === 0;
      if (leaf && path[0] !== 'portals') expect(text, path.join(' ')).to.include('--json');
    }
  });
});
