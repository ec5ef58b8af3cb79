import { isSetting, type Setting, type SettingsTree } from './setting.js';
import { SETTINGS, providerSettings } from './settings.js';

export interface SettingRow {
  variable: string;
  default: string;
  description: string;
}

function shownDefault(s: Setting<unknown>): string {
  if (s.shownDefault !== undefined) return s.shownDefault;
  const value = typeof s.fallback === 'function' ? '(computed)' : s.fallback;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  return `\`${String(value)}\``;
}

function rows(tree: SettingsTree | Record<string, Setting<unknown> | undefined>): SettingRow[] {
  return Object.values(tree).flatMap((node): SettingRow[] => {
    if (node === undefined) return [];
    if (isSetting(node)) return [{ variable: `\`${node.env}\``, default: shownDefault(node), description: node.description }];
    return rows(node as SettingsTree);
  });
}

/** Every setting as a row: the global ones, then one provider's, named `<P>_…`. */
export function settingRows(): SettingRow[] {
  const template = rows(providerSettings({ name: '<p>', label: 'the provider\'s', loginField: 'username', needsTotp: true })).map((row) =>
    row.variable === '`<P>_USERNAME`' ? { ...row, variable: '`<P>_USERNAME` or `<P>_EMAIL`', description: 'account login (e-mail for Openserve and MetroFiber); required with `<P>_URL`' } : row,
  );
  for (const row of template) if (/TOTP/.test(row.variable)) row.description += ' (Octotel)';
  return [...rows(SETTINGS), ...template];
}

/** The settings table of the README (between its `settings` markers). */
export function settingsMarkdown(): string {
  const escape = (text: string) => text.replace(/\|/g, '\\|');
  const lines = ['| variable | default | what |', '|---|---|---|'];
  for (const row of settingRows()) lines.push(`| ${row.variable} | ${escape(row.default)} | ${escape(row.description)} |`);
  return lines.join('\n');
}
