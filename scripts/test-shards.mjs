// Runs the compiled test files (dist/test/**/*.test.js) in TEST_SHARDS mocha processes at once
// (default 2). Most of the suite's time is spent waiting (on a lock to expire, a TOTP step to
// pass, a server to come back), so two processes on two cores take far less wall time than one.
// Files are dealt out by their measured durations (test/durations.json, seconds per file; a new
// file counts as DEFAULT_SECONDS), longest first, each to the shard with the least so far.
// Files named *.clock.test.ts, which mostly wait on the wall clock, run in one more process beside
// the shards. Each process has its own Postgres, Valkey and temp folders (test/support/shared-services.ts).
// Output: every line, prefixed with its shard, as it comes; then each shard's summary.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const DEFAULT_SECONDS = 10;
/** A shard still running after this many minutes is stopped (TEST_SHARD_TIMEOUT_MIN): a hang must not eat CI's budget unnamed. */
const DEFAULT_SHARD_TIMEOUT_MIN = 45;

export function testFiles(root) {
  const dir = join(root, 'dist', 'test');
  const walk = (d) => readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    return statSync(path).isDirectory() ? walk(path) : name.endsWith('.test.js') ? [path] : [];
  });
  return walk(dir).map((f) => relative(root, f)).sort();
}

/** `dist/test/a/b.test.js` → `test/a/b.test.ts`, the key of test/durations.json. */
const sourceOf = (file) => file.replace(/^dist\//, '').replace(/\.js$/, '.ts');

export function deal(files, durations, shards) {
  const weighted = files.map((file) => ({ file, seconds: durations[sourceOf(file)] ?? DEFAULT_SECONDS })).sort((a, b) => b.seconds - a.seconds || a.file.localeCompare(b.file));
  const bins = Array.from({ length: shards }, () => ({ files: [], seconds: 0 }));
  for (const item of weighted) {
    const bin = bins.reduce((least, b) => (b.seconds < least.seconds ? b : least));
    bin.files.push(item.file);
    bin.seconds += item.seconds;
  }
  // mocha runs a shard's files in the order given: keep the familiar alphabetical order.
  for (const bin of bins) bin.files.sort();
  return bins;
}

/**
 * Files that spend their time waiting on the wall clock (TOTP steps of 30 s), with little CPU: they
 * get a lane of their own beside the shards, where their minutes of waiting overlap the shards' work.
 */
const CLOCK_BOUND = /\.clock\.test\.js$/;

/** The processes to run: `shards` dealt bins of the other files, then the clock lane (with more than one shard). */
export function plan(files, durations, shards) {
  const lane = shards > 1 ? files.filter((f) => CLOCK_BOUND.test(f)) : [];
  const bins = deal(files.filter((f) => !lane.includes(f)), durations, shards).map((b) => ({ ...b, lane: false }));
  if (lane.length === 0) return bins;
  return [...bins, { files: [...lane].sort(), seconds: lane.reduce((sum, f) => sum + (durations[sourceOf(f)] ?? DEFAULT_SECONDS), 0), lane: true }];
}

function readDurations(root) {
  try {
    return JSON.parse(readFileSync(join(root, 'test', 'durations.json'), 'utf8'));
  } catch {
    return {};
  }
}

/**
 * A shard's summary cut to what a reader of a truncated CI log needs: its counts, and each failure's
 * title and first error line (mocha prints `  1) suite` / `       test:` / `     Error: …`).
 */
export function headline(summary) {
  const out = [];
  let inFailure = false;
  let errorShown = false;
  for (const raw of summary) {
    const line = raw.trim();
    if (/^\d+ (passing|failing|pending)\b/.test(line)) {
      out.push(line);
    } else if (/^\d+\) /.test(line)) {
      out.push(line);
      inFailure = true;
      errorShown = false;
    } else if (inFailure && !errorShown && line !== '') {
      out.push(`   ${line}`);
      if (/(Error|error|Timeout)\b/.test(line)) errorShown = true;
    }
  }
  return out;
}

/**
 * Runs the shards; resolves with the exit code (the first non-zero one). `extraArgs` go to every
 * mocha. With `RECORD_TEST_DURATIONS=1`, writes test/durations.json from this run.
 */
export function runShards({ root, env, shards, extraArgs = [] }) {
  const durations = readDurations(root);
  const bins = plan(testFiles(root), durations, shards).filter((b) => b.files.length > 0);
  const record = env.RECORD_TEST_DURATIONS === '1';
  const measured = {};
  const children = [];
  const timeoutMs = Number(env.TEST_SHARD_TIMEOUT_MIN ?? DEFAULT_SHARD_TIMEOUT_MIN) * 60_000;
  const timedOut = bins.map(() => false);
  /** Each shard's last lines of mocha's own (not the JSON log lines): where a stopped shard was. */
  const lastLines = bins.map(() => []);
  const summaries = bins.map(() => []);
  const runs = bins.map(
    (bin, i) =>
      new Promise((resolve) => {
        const tag = `[${i + 1}]`;
        console.log(`${tag} ${bin.files.length} files${bin.lane ? ' that wait on the clock' : ''}, about ${Math.round(bin.seconds / 60)} min by test/durations.json`);
        const args = ['--enable-source-maps', join(root, 'node_modules', 'mocha', 'bin', 'mocha.js'), ...extraArgs];
        const child = spawn(process.execPath, args, {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...env, MOCHA_SPEC: bin.files.join(','), ...(record ? { MOCHA_FILE_TIMES: '1' } : {}) },
        });
        children.push(child);
        let inSummary = false;
        const onLine = (line) => {
          const timing = /^rpa-test-file-time (\S+) (\d+)$/.exec(line);
          if (timing) {
            measured[sourceOf(timing[1])] = Number(timing[2]);
            return;
          }
          if (/^\s+\d+ passing \(/.test(line)) inSummary = true;
          if (line.trim() !== '' && !line.startsWith('{')) {
            lastLines[i].push(line.trim());
            if (lastLines[i].length > 4) lastLines[i].shift();
          }
          if (inSummary) summaries[i].push(line);
          process.stdout.write(`${tag} ${line}\n`);
        };
        for (const stream of [child.stdout, child.stderr]) {
          let rest = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk) => {
            const lines = (rest + chunk).split('\n');
            rest = lines.pop();
            for (const line of lines) onLine(line);
          });
          stream.on('end', () => rest && onLine(rest));
        }
        const limit = setTimeout(() => {
          timedOut[i] = true;
          process.stdout.write(`${tag} still running after ${timeoutMs / 60_000} min (TEST_SHARD_TIMEOUT_MIN): stopping it\n`);
          child.kill('SIGTERM');
          setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
        }, timeoutMs);
        limit.unref();
        child.on('exit', (code, signal) => {
          clearTimeout(limit);
          resolve(timedOut[i] ? 1 : (code ?? (signal ? 1 : 0)));
        });
      }),
  );
  const stop = (signal) => children.forEach((c) => c.kill(signal));
  for (const signal of ['SIGTERM', 'SIGHUP', 'SIGINT']) process.on(signal, () => stop(signal));
  return Promise.all(runs).then((codes) => {
    console.log('\n==== summary of every shard ====');
    summaries.forEach((lines, i) => {
      console.log(`[${i + 1}] exit ${codes[i]}`);
      if (timedOut[i]) {
        console.log(`[${i + 1}] stopped after ${timeoutMs / 60_000} min; its last lines:`);
        for (const line of lastLines[i]) console.log(`[${i + 1}]    ${line}`);
      }
      for (const line of headline(lines)) console.log(`[${i + 1}] ${line}`);
    });
    if (record) writeFileSync(join(root, 'test', 'durations.json'), `${JSON.stringify(Object.fromEntries(Object.entries(measured).sort()), null, 2)}\n`);
    return codes.find((c) => c !== 0) ?? 0;
  });
}
