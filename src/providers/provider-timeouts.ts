
/** Time limits every automation applies to the portal; all in milliseconds. */
export interface ProviderTimeouts {
  /** A page load or form submission, up to the new document's DOMContentLoaded. */
  navigationMs: number;
  /** Waiting for an element, or for a client-rendered outcome to appear. */
  actionMs: number;
  /** The final login step, which real portals' single sign-on makes slow (`login_delay_ms`). */
  loginMs: number;
}

export const defaultProviderTimeouts: ProviderTimeouts = {
  navigationMs: 30_000,
  actionMs: 15_000,
  loginMs: 60_000,
};

export function resolveTimeouts(ctx: { timeouts?: Partial<ProviderTimeouts> }): ProviderTimeouts {
  return { ...defaultProviderTimeouts, ...ctx.timeouts };
}
