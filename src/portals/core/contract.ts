/**
 * Circuit formats and reference prefixes as SPEC.md "Circuit data" fixes them, written here
 * from the contract and not taken from the robots' descriptors: a typo on either side then
 * shows up as a disagreement (test/providers/descriptors-match-spec.test.ts).
 */
export interface PortalCircuitFormat {
  /** `^…$` as in the SPEC.md table. */
  pattern: RegExp;
  /** `<PREFIX>` in references such as `OCT-CAN-000001`. */
  prefix: string;
}

export const OCTOTEL_CIRCUITS: PortalCircuitFormat = { pattern: /^OCT\d{6}$/, prefix: 'OCT' };
export const OPENSERVE_CIRCUITS: PortalCircuitFormat = { pattern: /^OSN\d{7}$/, prefix: 'OSN' };
export const METROFIBER_CIRCUITS: PortalCircuitFormat = { pattern: /^MFN-\d{4}-\d{4}$/, prefix: 'MFN' };
export const EVOTEL_CIRCUITS: PortalCircuitFormat = { pattern: /^EVO\d{6}$/, prefix: 'EVO' };
