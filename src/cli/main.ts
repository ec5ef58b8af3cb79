import { Command, CommanderError } from 'commander';
import { providerModulePaths } from '../config/config.js';
import { coerceError } from '../errors/coerce-error.js';
import { loadProviderModules } from '../providers/provider-plugins.js';
import { commandRegistrations } from './commands.js';

/** Entry point of `rpa`: every command group registers itself in commands.ts. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('rpa')
    .description('RPA orchestrator for fibre circuits: operate, inspect and run the system')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commandRegistrations) register(program);
  try {
    // Before the arguments are parsed: `--provider` knows the plugins' providers too.
    await loadProviderModules(providerModulePaths());
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
