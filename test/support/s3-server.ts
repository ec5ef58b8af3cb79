import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testRoot } from './shared-services.js';

const MAIN = fileURLToPath(new URL('./s3-server-main.js', import.meta.url));

export interface S3Server {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Where the server keeps the objects (the test reads and changes them as an attacker would). */
  dir: string;
  /** The settings that point the system at this server (EVIDENCE_STORE=s3, EVIDENCE_S3_*). */
  settings(): Record<string, string>;
  stop(): Promise<void>;
}

/** Starts a real S3-compatible server (s3-server-main.ts) in its own process, with fresh credentials. */
export async function startS3Server(): Promise<S3Server> {
  const dir = mkdtempSync(join(testRoot(), 's3-'));
  const bucket = `rpa-evidence-${randomBytes(3).toString('hex')}`;
  const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(20).toString('base64url');
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, S3_DIR: dir, S3_BUCKET: bucket, S3_ACCESS_KEY_ID: accessKeyId, S3_SECRET_ACCESS_KEY: secretAccessKey },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the S3 server did not start within 20 s')), 20_000);
    child.once('exit', (code) => reject(new Error(`the S3 server exited (${code}) before it listened`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line).port);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    dir,
    settings: () => ({
      EVIDENCE_STORE: 's3',
      EVIDENCE_S3_ENDPOINT: endpoint,
      EVIDENCE_S3_BUCKET: bucket,
      EVIDENCE_S3_REGION: 'us-east-1',
      EVIDENCE_S3_ACCESS_KEY_ID: accessKeyId,
      EVIDENCE_S3_SECRET_ACCESS_KEY: secretAccessKey,
      EVIDENCE_S3_FORCE_PATH_STYLE: 'true',
    }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
