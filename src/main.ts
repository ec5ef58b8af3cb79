import { loadConfig, providerModulePaths, type Config } from './config/config.js';
import { coerceError } from './errors/coerce-error.js';
import { ensureLocalAdminKey } from './api/auth/local-admin-key.js';
import { createLogger, type Logger } from './logger.js';
import { loadProviderModules } from './providers/provider-plugins.js';
import { startSystem, type System } from './system.js';

/** Exit codes: 78 a configuration error (EX_CONFIG), 1 anything else that stopped the start or the run. */
const EXIT_CONFIG = 78;

/** The one line a failed start ends with: what failed and what to do, no stack trace. */
function fail(message: string, code = 1): never {
  process.stderr.write(`rpa: ${message.replace(/\s+/g, ' ').trim()}\n`);
  process.exit(code);
}

/** `npm start`: every role of RPA_ROLES in this process, until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    await loadProviderModules(providerModulePaths());
    config = loadConfig();
  } catch (thrown) {
    fail(`configuration error: ${coerceError(thrown).message}`, EXIT_CONFIG);
  }
  const logger: Logger = createLogger({ level: config.logLevel, name: 'rpa' });

  let system: System | undefined;
  let stopping = false;
  const stop = (reason: string, code = 0) => {
    if (stopping) return;
    stopping = true;
    // A signal during start-up: startSystem finishes (or fails and cleans up), then this runs.
    if (!system) return;
    logger.info({ reason }, 'shutting down: no new batches; finishing or handing back the ones in hand');
    const force = setTimeout(() => fail('shutdown took too long; exiting with work possibly in hand (it is recovered on the next start)'), 60_000);
    force.unref();
    system.close().then(
      () => {
        logger.info('stopped');
        process.exit(code);
      },
      (err: unknown) => fail(`shutdown failed: ${coerceError(err).message}`),
    );
  };
  // embedded services are supervised by us (src/infra/server-process.ts) in process groups of
  // their own: a Ctrl-C reaches only this process, which stops them last.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => stop(signal));
  }
  // A library's error that nobody caught must still end in one line and a clean stop.
  process.on('uncaughtException', (err) => {
    logger.error({ err }, 'uncaught exception');
    if (!system) fail(`failed to start: ${coerceError(err).message}`);
    stopping = false;
    stop('uncaught exception', 1);
  });

  try {
    system = await startSystem(config, logger, { advertise: true });
    if (system.db && config.roles.includes('api')) await ensureLocalAdminKey(system.config, system.db, logger);
  } catch (thrown) {
    // startSystem has stopped whatever it had started.
    await system?.close().catch(() => undefined);
    const error = coerceError(thrown);
    fail(error.code === 'CONFIG_INVALID' ? `configuration error: ${error.message}` : `failed to start: ${error.message}`, error.code === 'CONFIG_INVALID' ? EXIT_CONFIG : 1);
  }
  logger.info({ roles: config.roles, api: system.apiUrl ?? null, portals: system.portals?.urls ?? null }, 'system running');
  if (stopping) {
    stopping = false;
    stop('signal during start-up');
  }
}

main().catch((thrown: unknown) => fail(`failed to start: ${coerceError(thrown).message}`));
