/**
 * The queue dashboard in a real browser: headless Chromium (the system's /usr/bin/chromium, driven
 * by playwright-core) logs in with basic auth, sees every partition queue, and finds the job that
 * applied a ledger entry just written through the API, with that entry's id in its return value.
 * Without credentials, or with wrong ones, it answers 401. The integration test
 * (adminDashboard.test.ts) checks the same over plain HTTP; this one checks that the page's
 * scripts actually render it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
} from 'playwright-core';
import { DASHBOARD_PATH } from '../../api/routes/adminDashboard.ts';
import { partitionOf, partitionQueueName } from '../../worker/jobs/partition.ts';
import { CHROMIUM, describeRequires, meets } from '../support/requiresBinary.ts';
import { startTestService, type TestService } from '../support/testService.ts';

const CHROMIUM_PATH = CHROMIUM.what;
/** Without the background-networking flags Chromium keeps trying to reach the (closed) network. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ADMIN_USER = 'ops';
const ADMIN_PASSWORD = 's3cret';
/** Each wait in the page; far above what rendering takes, far below the test timeout. */
const PAGE_WAIT_MS = 10_000;

let t: TestService;
let browser: Browser;
beforeAll(async () => {
  if (!meets([CHROMIUM])) return;
  [t, browser] = await Promise.all([
    startTestService({ ADMIN_USER, ADMIN_PASSWORD }),
    chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS }),
  ]);
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

/**
 * A fresh context that may talk only to the service: the page links a web font from elsewhere,
 * and a request that cannot be answered here should fail at once rather than wait on the network.
 */
async function newContext(options: BrowserContextOptions = {}): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(PAGE_WAIT_MS);
  await context.route(
    (url) => url.origin !== new URL(t.baseUrl).origin,
    (route) => route.abort(),
  );
  return context;
}

async function writeLedgerEntry(): Promise<{ customerId: string; entryId: string }> {
  const customer = await t.request('POST', '/v1/customers', {
    name: 'Dashboard',
    email: 'dashboard@example.com',
  });
  expect(customer.status, customer.text).toBe(201);
  const customerId = (customer.body as { id: string }).id;
  const entry = await t.request('POST', `/v1/customers/${customerId}/credits/ledger_entry`, {
    entry_type: 'increment',
    amount: 5,
  });
  expect(entry.status, entry.text).toBe(201);
  return { customerId, entryId: (entry.body as { id: string }).id };
}

describeRequires([CHROMIUM], 'queue dashboard in a browser', () => {
  it('shows every partition queue and the completed job of a ledger entry', async () => {
    const { customerId, entryId } = await writeLedgerEntry();
    const partitions = t.service.config.partitions;
    const expected = Array.from({ length: partitions }, (_, partition) =>
      partitionQueueName(partition),
    );
    const context = await newContext({
      httpCredentials: { username: ADMIN_USER, password: ADMIN_PASSWORD },
    });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${t.baseUrl}${DASHBOARD_PATH}`);
      expect(response?.status()).toBe(200);
      const sidebar = page.getByRole('navigation');
      const overview = page.getByRole('main');
      for (const name of expected) {
        await sidebar.getByRole('link', { name, exact: true }).waitFor();
        await overview.getByRole('link', { name, exact: true }).waitFor();
      }
      const listed = await sidebar.getByRole('link').allTextContents();
      expect(listed.sort()).toEqual([...expected].sort());

      // The entry's job ran on the customer's partition; its completed list shows it with the
      // entry the API answered with in its return value.
      const queueName = partitionQueueName(partitionOf(customerId, partitions));
      await sidebar.getByRole('link', { name: queueName, exact: true }).click();
      await overview.getByRole('link', { name: /^completed/i }).click();
      await page.waitForURL(
        (url) =>
          url.pathname.endsWith(`/queue/${encodeURIComponent(queueName)}`) &&
          url.searchParams.get('status') === 'completed',
      );
      await overview.getByText('ledger.apply', { exact: true }).waitFor();
      await overview.getByText(`"${customerId}"`).waitFor();
      await overview.getByText(`"${entryId}"`).waitFor();
    } finally {
      await context.close();
    }
  });

  it('answers 401 without credentials or with wrong ones', async () => {
    const url = `${t.baseUrl}${DASHBOARD_PATH}`;
    const anonymous = await newContext();
    try {
      // Headless Chromium receives the 401 but then fails the navigation itself
      // (ERR_INVALID_AUTH_CREDENTIALS) when it has no credentials to answer the challenge with,
      // so the status is read from the navigation's response event rather than from goto.
      const page = await anonymous.newPage();
      const [response, navigation] = await Promise.all([
        page.waitForResponse(
          (candidate) => candidate.request().isNavigationRequest() && candidate.url() === url,
        ),
        page.goto(url).then(
          () => 'loaded',
          (error: Error) => error.message,
        ),
      ]);
      expect(response.status()).toBe(401);
      expect(await response.headerValue('www-authenticate')).toMatch(/^Basic/);
      expect(navigation).toMatch(/ERR_INVALID_AUTH_CREDENTIALS/);
      expect(await page.getByRole('navigation').count()).toBe(0);
    } finally {
      await anonymous.close();
    }
    const wrong = await newContext({
      httpCredentials: { username: ADMIN_USER, password: 'not-the-password' },
    });
    try {
      const page = await wrong.newPage();
      const response = await page.goto(url);
      expect(response?.status()).toBe(401);
      expect(await page.getByRole('navigation').count()).toBe(0);
    } finally {
      await wrong.close();
    }
  });
});
