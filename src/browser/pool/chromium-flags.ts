/**
 * Flags every Chromium we start gets. The process runs as root in a container: no sandbox,
 * no GPU, /dev/shm is small, and nothing should phone home or update itself.
 */
export const CHROMIUM_FLAGS: readonly string[] = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--disable-dev-shm-usage',
];
