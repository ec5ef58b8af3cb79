import { expect } from 'chai';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256Hex } from '../../src/evidence/audit-chain.js';
import type { EvidenceStore } from '../../src/evidence/evidence-store.js';
import { FsEvidenceStore } from '../../src/evidence/fs-evidence-store.js';
import { S3EvidenceStore } from '../../src/evidence/s3-evidence-store.js';
import { isRpaError } from '../../src/errors/failures.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { testRoot, uniquePrefix } from '../support/shared-services.js';

/** Every file under `dir`, relative. */
function filesUnder(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base)).flatMap((name) => (statSync(join(dir, base, name)).isDirectory() ? filesUnder(dir, join(base, name)) : [join(base, name)]));
}

describe('evidence stores: the filesystem and a real S3-compatible server', function () {
  this.timeout(60_000);
  let s3: S3Server;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3?.stop();
  });

  const backends: Array<[string, () => EvidenceStore]> = [
    ['fs', () => new FsEvidenceStore(join(testRoot(), uniquePrefix('fs-store')))],
    [
      's3',
      () =>
        new S3EvidenceStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true, prefix: `${uniquePrefix('install')}/` }),
    ],
  ];
  for (const [kind, make] of backends) {
    it(`${kind}: stores, reads back byte for byte, tells a missing key, deletes by prefix, refuses unsafe keys`, async () => {
      const store = make();
      try {
        await store.check();
        const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3, 255]);
        await store.put('jobs/7/result-20250101T000000000Z.png', png, 'image/png');
        await store.put('jobs/7/failed-20250101T000000001Z.json', Buffer.from('{"code":"X"}'), 'application/json');
        await store.put('jobs/8/result-20250101T000000002Z.png', png, 'image/png');
        const back = await store.get('jobs/7/result-20250101T000000000Z.png');
        expect(sha256Hex(back!)).to.equal(sha256Hex(png));
        expect(await store.get('jobs/7/nothing.png')).to.equal(undefined);
        expect(await store.deletePrefix('jobs/7/')).to.equal(2);
        expect(await store.get('jobs/7/result-20250101T000000000Z.png')).to.equal(undefined);
        expect(await store.get('jobs/8/result-20250101T000000002Z.png')).to.be.instanceOf(Buffer);
        expect(await store.deletePrefix('jobs/99/')).to.equal(0);
        for (const bad of ['../escape.png', '/etc/passwd', 'jobs/../../x', 'jobs//x', '']) {
          const error = await store.put(bad, png, 'image/png').then(() => undefined, (e: unknown) => e);
          expect(isRpaError(error, 'INTERNAL'), bad).to.equal(true);
        }
      } finally {
        await store.close();
      }
    });
  }

  it('s3: keeps each object under the bucket and prefix, and the object is the bytes (checked on the server\'s disk)', async () => {
    const prefix = `${uniquePrefix('install')}/`;
    const store = new S3EvidenceStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey, forcePathStyle: true, prefix });
    const body = Buffer.from('evidence bytes');
    await store.put('jobs/1/result-x.png', body, 'image/png');
    const stored = filesUnder(s3.dir).filter((f) => f.includes(prefix.slice(0, -1)) && f.includes('result-x.png') && !f.includes('metadata'));
    expect(stored, JSON.stringify(filesUnder(s3.dir))).to.have.length.greaterThan(0);
    const onDisk = stored.map((f) => readFileSync(join(s3.dir, f))).find((b) => b.equals(body));
    expect(onDisk, 'the object file holds the bytes').to.not.equal(undefined);
    await store.close();
  });

  it('s3: a wrong secret is refused with EVIDENCE_UNAVAILABLE naming the operation and the error code, never the secret', async () => {
    const wrong = 'this-secret-must-not-leak-0123456789';
    const store = new S3EvidenceStore({ bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', accessKeyId: s3.accessKeyId, secretAccessKey: wrong, forcePathStyle: true, prefix: '' });
    try {
      const error = await store.put('jobs/1/x.png', Buffer.from('x'), 'image/png').then(() => undefined, (e: unknown) => e);
      expect(isRpaError(error, 'EVIDENCE_UNAVAILABLE'), String(error)).to.equal(true);
      const text = JSON.stringify({ message: (error as Error).message, cause: String((error as Error).cause) });
      expect(text).to.match(/upload failed: SignatureDoesNotMatch \(HTTP 403\)/);
      expect(text).to.not.contain(wrong);
      expect(text).to.not.contain(s3.accessKeyId);
    } finally {
      await store.close();
    }
  });

  it('fs: a folder that cannot be written fails check() with EVIDENCE_UNAVAILABLE, without the path', async () => {
    const file = join(testRoot(), uniquePrefix('not-a-folder'));
    writeFileSync(file, 'x');
    const store = new FsEvidenceStore(join(file, 'evidence'));
    const error = await store.check().then(() => undefined, (e: unknown) => e);
    expect(isRpaError(error, 'EVIDENCE_UNAVAILABLE')).to.equal(true);
    expect((error as Error).message).to.not.contain(file);
  });
});
