import { Router, type Request, type Response } from 'express';
import { listAudit } from '../../db/audit-store.js';
import { findDelivery } from '../../db/callback-store.js';
import type { Db } from '../../db/database.js';
import { listJobEvents } from '../../db/event-store.js';
import { findEvidence, listEvidence } from '../../db/evidence-metadata-store.js';
import { sha256Hex } from '../../evidence/audit-chain.js';
import { EVIDENCE_NAME } from '../../evidence/evidence-item.js';
import { evidenceLinks } from '../../evidence/evidence-links.js';
import type { EvidenceStore } from '../../evidence/evidence-store.js';
import { RpaError } from '../../errors/failures.js';
import { requirePermission } from '../auth/authenticate.js';
import { visibleJob } from '../visible-job.js';
import { jobView } from '../job-view.js';
import { idParam } from '../request-params.js';

export interface EvidenceRoutesDeps {
  db: Db;
  /** Where the bytes are (EVIDENCE_STORE); without one, evidence is listed but not served (503). */
  evidenceStore?: EvidenceStore;
}

/**
 * Sends a job's evidence item: its bytes with their content type, checked against the sha256
 * recorded when they were taken. 404 for an unknown name, 409 AUDIT_MISMATCH for changed bytes.
 */
export async function sendEvidence(deps: EvidenceRoutesDeps, jobId: string, name: string, res: Response): Promise<void> {
  const row = EVIDENCE_NAME.test(name) ? await findEvidence(deps.db, jobId, name) : undefined;
  if (!row) throw new RpaError('NOT_FOUND', `job ${jobId} has no evidence named ${JSON.stringify(name.slice(0, 130))}`, { field: 'name' });
  if (!deps.evidenceStore) throw new RpaError('EVIDENCE_UNAVAILABLE', 'this process has no evidence store');
  const body = await deps.evidenceStore.get(row.object_key);
  if (!body) throw new RpaError('NOT_FOUND', `evidence ${name} of job ${jobId} is listed but no longer in the evidence store`, { field: 'name' });
  // Never hand out bytes the chain cannot vouch for: a changed object is a 409, and
  // `rpa evidence verify` names it.
  if (sha256Hex(body) !== row.sha256) throw new RpaError('AUDIT_MISMATCH', `evidence ${name} of job ${jobId} no longer matches the sha256 recorded when it was taken`, { field: 'name' });
  res.status(200);
  res.set({
    'Content-Type': row.content_type,
    'Content-Length': String(body.length),
    'Content-Disposition': `inline; filename="${row.name}"`,
    'Cache-Control': 'private, no-cache',
    'X-Content-Type-Options': 'nosniff',
    ETag: `"${row.sha256}"`,
  });
  res.end(body);
}

/**
 * A job's evidence, served (not pointed at), and its audit trail. Both need what GET /jobs/:id
 * needs: a key whose role may read jobs (`jobs:read`), and the job.
 */
export function evidenceRoutes(deps: EvidenceRoutesDeps): Router {
  const router = Router();

  // A submitter sees the evidence of its own jobs only, as it sees only those jobs.
  const jobOr404 = (req: Request) => visibleJob(deps.db, req, idParam(req.params.id));

  router.get('/jobs/:id/evidence/:name', requirePermission('jobs:read'), async (req, res) => {
    const job = await jobOr404(req);
    await sendEvidence(deps, job.id, String(req.params.name), res);
  });

  /** The job, its events, its evidence and its hash chain (`{"head","entries"}`). */
  router.get('/jobs/:id/audit', requirePermission('jobs:read'), async (req, res) => {
    const job = await jobOr404(req);
    const [delivery, events, evidence, entries] = await Promise.all([findDelivery(deps.db, job.id), listJobEvents(deps.db, job.id), listEvidence(deps.db, job.id), listAudit(deps.db, job.id)]);
    const names = new Map(evidence.map((e) => [e.id, e.name]));
    res.json({
      job: jobView(job, delivery ?? null, evidence),
      events,
      evidence: evidenceLinks(job.id, evidence),
      chain: {
        head: job.audit_head,
        entries: entries.map((e) => ({
          seq: e.seq,
          kind: e.kind,
          sha256: e.sha256,
          prev: e.prev,
          hash: e.hash,
          // What the entry stands for: the event's id, the evidence item's name.
          ref: e.kind === 'event' ? Number(e.ref_id) : (names.get(e.ref_id) ?? null),
        })),
      },
    });
  });

  return router;
}
