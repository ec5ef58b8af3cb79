/** What a job's evidence item says about itself in an API answer or a callback: no key, no path. */
export interface EvidenceLink {
  name: string;
  /** `/jobs/:id/evidence/:name`, absolute (PUBLIC_BASE_URL first) in callbacks. */
  url: string;
  sha256: string;
  content_type: string;
  bytes: number;
  taken_at: string;
  step: string;
}

/** The stored columns a link is made from (job_evidence). */
export interface EvidenceMetadata {
  name: string;
  step: string;
  content_type: string;
  bytes: number;
  sha256: string;
  taken_at: Date;
}

/** The path the API serves an item at. */
export function evidencePath(jobId: string | number, name: string): string {
  return `/jobs/${jobId}/evidence/${encodeURIComponent(name)}`;
}

/** A job's evidence as links; `baseUrl` (no trailing slash) makes them absolute. */
export function evidenceLinks(jobId: string | number, rows: readonly EvidenceMetadata[], baseUrl = ''): EvidenceLink[] {
  const base = baseUrl.replace(/\/+$/, '');
  return rows.map((r) => ({
    name: r.name,
    url: base + evidencePath(jobId, r.name),
    sha256: r.sha256,
    content_type: r.content_type,
    bytes: Number(r.bytes),
    taken_at: new Date(r.taken_at).toISOString(),
    step: r.step,
  }));
}
