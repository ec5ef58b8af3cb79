import { Command, InvalidArgumentError, Option } from 'commander';
import { createApiKey } from '../api/auth/api-key.js';
import { listApiKeys, revokeApiKey } from '../db/api-key-store.js';
import { migrateToLatest } from '../db/migrate.js';
import { KEY_ROLES, type KeyRole } from '../db/schema.js';
import { RpaError } from '../errors/failures.js';
import { withCliContext } from './cli-context.js';
import { formatTable, formatTime } from './cli-table.js';

const parseKeyName = (value: string): string => {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(value)) throw new InvalidArgumentError('1 to 64 letters, digits, dots, dashes or underscores');
  return value;
};
const parseRole = (value: string): KeyRole => {
  if (!(KEY_ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${KEY_ROLES.join(', ')}`);
  return value as KeyRole;
};

/** `rpa migrate` and `rpa api-keys create|list|revoke`, straight against Postgres. */
export function registerAdminCommands(program: Command): void {
  program
    .command('migrate')
    .description('apply pending database migrations (forward only)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const applied = await migrateToLatest(db);
        process.stdout.write(options.json ? `${JSON.stringify({ applied })}\n` : applied.length ? `applied ${applied.join(', ')}\n` : 'the database is up to date\n');
      });
    });

  const keys = program.command('api-keys').description('API keys and their roles (submitter, viewer, operator, admin)');
  keys
    .command('create')
    .description('create a key; it is printed once and stored only as a hash')
    .addOption(new Option('--name <name>', 'unique name').argParser(parseKeyName).makeOptionMandatory())
    .addOption(new Option('--role <role>', KEY_ROLES.join(' | ')).argParser(parseRole).makeOptionMandatory())
    .option('--json', 'print JSON')
    .action(async (options: { name: string; role: KeyRole; json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const created = await createApiKey(db, options.name, options.role);
        process.stdout.write(options.json ? `${JSON.stringify(created)}\n` : `${created.key}\n`);
        if (!options.json) process.stderr.write(`created ${created.role} key "${created.name}" (shown once: store it now)\n`);
      });
    });
  keys
    .command('list')
    .description('every key: name, role, prefix, created, last used, revoked (never the key itself)')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        const rows = await listApiKeys(db);
        if (options.json) return process.stdout.write(`${JSON.stringify({ api_keys: rows })}\n`);
        process.stdout.write(
          formatTable(
            ['name', 'role', 'prefix', 'created', 'last used', 'revoked'],
            rows.map((r) => [r.name, r.role, r.key_prefix, formatTime(r.created_at), formatTime(r.last_used_at), formatTime(r.revoked_at)]),
          ),
        );
      });
    });
  keys
    .command('revoke')
    .description('revoke a key by name (at once: the API and Bull Board check keys on every request)')
    .argument('<name>', 'key name', parseKeyName)
    .option('--json', 'print JSON')
    .action(async (name: string, options: { json?: boolean }) => {
      await withCliContext({}, async ({ db }) => {
        if (!(await revokeApiKey(db, name))) throw new RpaError('NOT_FOUND', `no active API key named "${name}"`);
        process.stdout.write(options.json ? `${JSON.stringify({ name, revoked: true })}\n` : `revoked "${name}"\n`);
      });
    });
}
