/**
 * The one account of a practice portal. `login` is the username (Octotel, Evotel) or the
 * e-mail (Openserve, MetroFiber); `totpSecret` (base32) is required by Octotel only.
 */
export interface PracticeAccount {
  login: string;
  password: string;
  totpSecret?: string;
}
