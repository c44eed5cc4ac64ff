/**
 * Headless Chromium (Debian's package) driven by playwright-core. Fails with a clear message when
 * the browser is missing: browser tests never skip.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll } from "vitest";

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  "/usr/lib/chromium/chromium",
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
];

export async function launchChromium(): Promise<Browser> {
  const executablePath = CANDIDATES.find((candidate) => candidate && existsSync(candidate));
  if (!executablePath) {
    throw new Error(
      "Chromium not found: browser tests need it (Debian: apt-get install chromium) or set CHROMIUM_PATH.",
    );
  }
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/**
 * Chromium for the tests of the describe block (or file) that calls this: launched before them,
 * closed after them. Called after withGateway, it is closed before the gateway.
 */
export function withChromium(): { readonly browser: Browser } {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });
  return {
    get browser() {
      if (!browser)
        throw new Error("withChromium: Chromium is not running (use it in a test or a later hook)");
      return browser;
    },
  };
}
