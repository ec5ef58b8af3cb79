import type { Command } from 'commander';
import { registerAdminCommands } from './admin-commands.js';
import { registerBatchesCommands } from './batches-commands.js';
import { registerDemoCommand } from './demo-command.js';
import { registerEvidenceCommands } from './evidence-commands.js';
import { registerFailuresCommand } from './failures-command.js';
import { registerJobsCommands } from './jobs-commands.js';
import { registerPoolCommands } from './pool-commands.js';
import { registerResetCommand } from './reset-command.js';
import { registerSchedulesCommands } from './schedules-commands.js';
import { registerSettingsCommand } from './settings-command.js';
import { registerSubmitCommand } from './submit-command.js';
import { registerPortalsCommand } from './portals-command.js';
import { registerProvidersCommands } from './providers-commands.js';
import { registerTotpCommands } from './totp-commands.js';

/** One function per command group (a file in src/cli/ each); add a line to register a new group. */
export const commandRegistrations: Array<(program: Command) => void> = [
  registerTotpCommands,
  registerPortalsCommand,
  registerPoolCommands,
  registerBatchesCommands,
  registerProvidersCommands,
  registerJobsCommands,
  registerEvidenceCommands,
  registerSubmitCommand,
  registerSchedulesCommands,
  registerAdminCommands,
  registerDemoCommand,
  registerSettingsCommand,
  registerFailuresCommand,
  registerResetCommand,
];
