/**
 * A plain-HTTP client for the practice portals: a cookie jar, no automatic redirects (so
 * tests see every 302 and its Location), form and JSON bodies, and control-API helpers.
 */
export interface PortalResponse {
  status: number;
  location: string | null;
  body: string;
  headers: Headers;
  setCookies: string[];
}

export class PortalClient {
  readonly cookies = new Map<string, string>();

  constructor(readonly baseUrl: string) {}

  async request(method: string, path: string, options: { form?: Record<string, string>; json?: unknown; body?: string; contentType?: string } = {}): Promise<PortalResponse> {
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    } else if (options.body !== undefined) {
      body = options.body;
      if (options.contentType) headers['content-type'] = options.contentType;
    }
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(this.baseUrl + path, { method, headers, body, redirect: 'manual' });
    const setCookies = res.headers.getSetCookie();
    for (const line of setCookies) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, location: res.headers.get('location'), body: await res.text(), headers: res.headers, setCookies };
  }

  get(path: string): Promise<PortalResponse> {
    return this.request('GET', path);
  }

  post(path: string, form: Record<string, string> = {}): Promise<PortalResponse> {
    return this.request('POST', path, { form });
  }

  /** GETs a path and follows redirects (same origin), returning the last response and the chain of Locations. */
  async follow(path: string, max = 5): Promise<PortalResponse & { chain: string[] }> {
    const chain: string[] = [];
    let res = await this.get(path);
    while (res.status >= 300 && res.status < 400 && res.location && chain.length < max) {
      chain.push(res.location);
      res = await this.get(res.location.replace(this.baseUrl, ''));
    }
    return { ...res, chain };
  }

  async stats(): Promise<Record<string, any>> {
    const res = await fetch(`${this.baseUrl}/__sandbox/stats`);
    return (await res.json()) as Record<string, any>;
  }

  async reset(): Promise<void> {
    const res = await fetch(`${this.baseUrl}/__sandbox/reset`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`reset answered ${res.status}`);
  }

  async control(path: string, body: unknown): Promise<{ status: number; json: any }> {
    const res = await fetch(`${this.baseUrl}/__sandbox/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, json: await res.json() };
  }

  async configure(patch: Record<string, number | boolean>): Promise<void> {
    const res = await this.control('config', patch);
    if (res.status !== 200) throw new Error(`config answered ${res.status}: ${JSON.stringify(res.json)}`);
  }

  async seed(circuits: unknown): Promise<void> {
    const res = await this.control('circuits', circuits);
    if (res.status !== 200) throw new Error(`seeding answered ${res.status}: ${JSON.stringify(res.json)}`);
  }

  /** A fresh client (empty cookie jar) for the same portal. */
  fresh(): PortalClient {
    return new PortalClient(this.baseUrl);
  }
}
