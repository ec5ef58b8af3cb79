import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { RpaError } from '../errors/failures.js';
import { assertSafeKey, type EvidenceStore } from './evidence-store.js';

/** Where an S3-compatible bucket is and how to sign for it (EVIDENCE_S3_*). */
export interface S3EvidenceOptions {
  bucket: string;
  /** MinIO, Ceph RGW, OpenShift Data Foundation …; AWS's own endpoint when undefined. */
  endpoint?: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `https://endpoint/bucket/key` instead of `https://bucket.endpoint/key` (MinIO, most on-premises stores). */
  forcePathStyle: boolean;
  /** Put before every key (`evidence/`), so one bucket can hold several installations. */
  prefix: string;
  /** Per request: connect and answer (default 30 s). */
  requestTimeoutMs?: number;
}

/**
 * Evidence in an S3-compatible bucket through the AWS SDK v3. Checksums are sent only where the
 * API requires them, as Ceph RGW and older MinIO do not know the SDK's newer default ones.
 * Errors name the operation and the service's error code, never the credentials, the endpoint's
 * answer text or the key.
 */
export class S3EvidenceStore implements EvidenceStore {
  readonly kind = 's3';
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(options: S3EvidenceOptions) {
    if (options.prefix !== '') assertSafeKey(options.prefix, { prefix: true });
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    const timeout = options.requestTimeoutMs ?? 30_000;
    this.client = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: Math.min(timeout, 5_000), requestTimeout: timeout },
    });
    if (options.forcePathStyle) {
      // SDK v3 sends bucket operations (the listing) as `/bucket/`; some S3-compatible servers
      // sign the canonical request as `/bucket` and answer SignatureDoesNotMatch (older Ceph
      // RGW, s3rver). AWS and MinIO take either, so the slash goes before the request is signed.
      const bucketPath = `/${this.bucket}/`;
      this.client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { path?: string };
          if (request.path === bucketPath) request.path = bucketPath.slice(0, -1);
          return next(args);
        },
        { step: 'build', name: 'bucketPathWithoutSlash' },
      );
    }
  }

  /** Resolves when the bucket answers to these credentials: a one-key listing (the permission retention needs anyway). */
  async check(): Promise<void> {
    await this.call('check the bucket', () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 })));
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    const Key = this.keyOf(key);
    await this.call('upload', () => this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentType: contentType, ContentLength: body.length })));
  }

  async get(key: string): Promise<Buffer | undefined> {
    const Key = this.keyOf(key);
    try {
      const answer = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      if (!answer.Body) return Buffer.alloc(0);
      return Buffer.from(await answer.Body.transformToByteArray());
    } catch (thrown) {
      if (isMissing(thrown)) return undefined;
      throw unavailable('download', thrown);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    assertSafeKey(prefix, { prefix: true });
    if (!prefix.endsWith('/')) throw new RpaError('INTERNAL', 'an evidence prefix must end in /');
    const Prefix = this.prefix + prefix;
    let deleted = 0;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call('list', () => this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken })));
      // One DeleteObject per key: DeleteObjects needs a checksum some S3-compatible stores refuse.
      for (const object of page.Contents ?? []) {
        if (!object.Key) continue;
        await this.call('delete', () => this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: object.Key })));
        deleted++;
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return deleted;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private keyOf(key: string): string {
    assertSafeKey(key);
    return this.prefix + key;
  }

  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (thrown) {
      throw unavailable(what, thrown);
    }
  }
}

function statusOf(thrown: unknown): number | undefined {
  return (thrown as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isMissing(thrown: unknown): boolean {
  const name = (thrown as { name?: string })?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(thrown) === 404;
}

/**
 * The SDK's own error may quote the service's answer; ours says only the operation, the error
 * code and the HTTP status. The cause is reduced to the same, so no log line carries more.
 */
function unavailable(what: string, thrown: unknown): RpaError {
  const name = String((thrown as { name?: string; code?: string })?.name ?? (thrown as { code?: string })?.code ?? 'Error').replace(/[^A-Za-z0-9_.-]/g, '').slice(0, 60);
  const status = statusOf(thrown);
  const message = `evidence store (s3): ${what} failed: ${name}${status ? ` (HTTP ${status})` : ''}`;
  return new RpaError('EVIDENCE_UNAVAILABLE', message, { cause: new Error(message) });
}
