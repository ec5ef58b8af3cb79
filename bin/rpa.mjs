#!/usr/bin/env node
// `npx rpa …` from the project folder: builds on first use, then runs the CLI.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(entry)) {
  const result = spawnSync(process.execPath, [join(root, 'scripts', 'bootstrap.mjs'), 'build'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
const { main } = await import(pathToFileURL(entry).href);
await main(process.argv);
