/**
 * An S3-compatible server in its own process for the tests (@20minutes/s3rver: a maintained fork
 * of s3rver, files on disk, SigV4 signatures checked): `node s3-server-main.js` with S3_DIR,
 * S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY; binds 127.0.0.1 on a free port, prints
 * `{"port":N}` once it listens, and stops on SIGTERM or when its parent goes (stdin closes).
 */
import S3rver from '@20minutes/s3rver';
import AWSAccount from '@20minutes/s3rver/lib/models/account.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
};

// Only the key pair the test hands out signs valid requests (besides s3rver's built-in one, revoked).
AWSAccount.DUMMY_ACCOUNT.revokeAccessKey('S3RVER');
AWSAccount.DUMMY_ACCOUNT.createKeyPair(env('S3_ACCESS_KEY_ID'), env('S3_SECRET_ACCESS_KEY'));
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: env('S3_DIR'), vhostBuckets: false, configureBuckets: [{ name: env('S3_BUCKET') }] });
const address = await server.run();
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.close().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
