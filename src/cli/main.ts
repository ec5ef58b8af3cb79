import { Command, CommanderError } from 'commander';
import { coerceError } from '../errors/coerce-error.js';
import { commandRegistrations } from './commands.js';

/** Entry point of `rpa`: every command group registers itself in commands.ts. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('rpa')
    .description('RPA orchestrator for fibre circuits: operate, inspect and run the system')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandRegistrations) register(program);
  try {
    await program.parseAsync(argv);
  } catch (thrown) {
    if (thrown instanceof CommanderError) {
      process.exitCode = thrown.exitCode;
    } else {
      const error = coerceError(thrown);
      process.stderr.write(`rpa: ${error.message}\n`);
      process.exitCode = 1;
    }
  }
}
