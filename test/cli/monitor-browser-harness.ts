import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cairnBin } from './cli-process.ts';

/** Debian's chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';
/** Where browser tests keep their screenshots (gitignored; CI keeps them as artifacts). */
export const ARTIFACTS = new URL('../../test-artifacts/monitor/', import.meta.url).pathname;

function playwrightMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('playwright-core');
    return undefined;
  } catch {
    return 'playwright-core is not installed';
  }
}

/** Why a browser test cannot run here, or undefined when it can. */
export const browserSkipReason: string | undefined = !existsSync(CHROMIUM) ? `${CHROMIUM} is absent (Debian's chromium package)` : playwrightMissing();

/** A free TCP port on loopback: taken from the kernel and let go (0 would turn the monitor off). */
export async function freePort(): Promise<number> {
  return new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** A real `cairn local serve` in a child process with its monitor, and headless Chromium. */
export interface MonitorSession {
  /** A scratch directory for the test's files; removed by close(). */
  work: string;
  /** The service's $CAIRN_HOME (under work). */
  home: string;
  /** The printed login URL (with the token). */
  loginUrl: string;
  /** The monitor's origin, without the token. */
  origin: string;
  serve: ChildProcess;
  browser: import('playwright-core').Browser;
  close(): Promise<void>;
}

/**
 * Starts `cairn --home <work>/home local serve --monitor-port <free> --json`
 * (plus `serveArgs`), waits for the monitor URL it prints, and launches
 * Chromium. close() stops both and removes the scratch directory.
 */
export async function startMonitorSession(name: string, serveArgs: string[] = []): Promise<MonitorSession> {
  const work = mkdtempSync(join(tmpdir(), `cairn-${name}-`));
  const home = join(work, 'home');
  mkdirSync(ARTIFACTS, { recursive: true });
  const port = await freePort();
  const serve = spawn(process.execPath, [cairnBin, '--home', home, 'local', 'serve', '--monitor-port', String(port), '--json', ...serveArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  serve.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = async (): Promise<void> => {
    if (serve.exitCode !== null || serve.signalCode !== null) return;
    const exited = new Promise((resolve) => serve.once('exit', resolve));
    serve.kill('SIGTERM');
    await exited;
  };
  let loginUrl: string;
  let browser: import('playwright-core').Browser;
  try {
    loginUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      // Under the test's own timeout: a service that never prints its URL is stopped here, not left running.
      const timer = setTimeout(() => reject(new Error(`cairn local serve printed no monitor URL in 20 s: ${stderr}`)), 20_000);
      serve.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = /\{"monitor":.*\}\n/.exec(out);
        if (line) {
          clearTimeout(timer);
          resolve((JSON.parse(line[0]) as { monitor: { url: string } }).monitor.url);
        }
      });
      serve.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`cairn local serve exited ${code} before printing the monitor URL: ${stderr}`));
      });
    });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  } catch (error) {
    // Nothing is left behind when the set-up fails: the service is stopped and the scratch directory removed.
    await stop();
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
  return {
    work,
    home,
    loginUrl,
    origin: new URL(loginUrl).origin,
    serve,
    browser,
    close: async () => {
      await browser.close();
      await stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** A page in a fresh context, with what it must never do collected: dialogs (dismissed), script errors, CSP violations. */
export interface WatchedPage {
  context: import('playwright-core').BrowserContext;
  page: import('playwright-core').Page;
  /** Every alert/confirm/prompt the page opened: a file name run as markup would open one. */
  dialogs: string[];
  /** Uncaught errors in the page's script. */
  scriptErrors: string[];
  /** Console reports of a Content-Security-Policy violation (an inline style or script the CSP refused). */
  cspViolations: string[];
}

export async function openWatchedPage(browser: import('playwright-core').Browser, options: import('playwright-core').BrowserContextOptions): Promise<WatchedPage> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const watched: WatchedPage = { context, page, dialogs: [], scriptErrors: [], cspViolations: [] };
  page.on('dialog', (dialog) => {
    watched.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('pageerror', (error) => watched.scriptErrors.push(error.message));
  page.on('console', (message) => void (/Content Security Policy/i.test(message.text()) && watched.cspViolations.push(message.text())));
  return watched;
}
