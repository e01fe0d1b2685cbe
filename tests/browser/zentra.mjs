// What the browser tests share: the zentra binary started on a fresh SQLite
// file and a free port, and Chromium.
//
// ZENTRA_BIN (default ../../target/debug/zentra) and CHROMIUM (default
// /usr/bin/chromium) say where they are.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const here = dirname(fileURLToPath(import.meta.url));
const zentraBin = process.env.ZENTRA_BIN ?? join(here, '../../target/debug/zentra');
const chromiumBin = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Starts zentra on a fresh SQLite file and a free port, with `extra`
 * settings; resolves to its base URL and a `stop`. */
export async function startZentra(extra = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'zentra-browser-'));
  const child = spawn(zentraBin, ['serve'], {
    cwd: dir,
    env: {
      DB__URL: `sqlite:///${join(dir, 'zentra.db')}`,
      SERVER__PORT: '0',
      AUTH__ROUNDS: '4',
      RUST_LOG: 'warn',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('zentra did not start')), 30_000);
    child.on('exit', (code) => reject(new Error(`zentra exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = line.match(/^zentra listening on (http:\/\/\S+)$/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { base, stop: () => { child.kill(); rmSync(dir, { recursive: true, force: true }); } };
}

export function launchChromium() {
  return chromium.launch({
    executablePath: chromiumBin,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
