// End-to-end: a profile change reaches the people who share a room with its owner, live, against a
// real Chatter server (CHATTER_URL). Run with `npm run e2e`. Steps run in order; after a failure
// the rest are skipped.
//   Alice and Bob share a public room and a DM. Alice renames herself in Settings → Profile;
//   Bob's open app (no reload) shows the new name in the member list, on her earlier message,
//   in the "Seen by" line under his own message and on the DM in his sidebar (`user_updated`).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BASE_URL, launch, newUser, register, shot, stopIsolation, unexpectedConsoleErrors, waitForServer } from './support';

const run = Date.now().toString(36).slice(-6);
const alice = { username: `alice_p_${run}`, display: 'Alice Liddell' };
const bob = { username: `bob_p_${run}`, display: 'Bob Builder' };
// Other initials than before, so the avatars have to change too.
const renamed = { display: 'Alice Kingsleigh', status: 'Through the looking glass' };
const roomName = `tea-party-${run}`;
const aliceSays = 'Morning Bob, the agenda is pinned.';
const bobSays = 'Thanks, reading it now.';
const dmSays = 'A private word, Bob.';
/** How long Bob's app gets to show the rename: a socket frame, not a page load. */
const LIVE_MS = 10_000;

let browser: Browser;
let A: { context: BrowserContext; page: Page };
let B: { context: BrowserContext; page: Page };
let failed = false;
/** Every `user_updated` frame Bob's browser received. */
const bobsUserUpdates: { user: { id: string; display_name: string; status_text: string | null } }[] = [];

/** A step of the story: skipped once an earlier one failed (they build on each other). */
function step(name: string, fn: () => Promise<void>, options: { timeout?: number } = {}) {
  it(name, { timeout: options.timeout ?? 60_000 }, async (t) => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn();
    } catch (error) {
      failed = true;
      await A?.page.screenshot({ path: shot('failure-profile-alice') }).catch(() => undefined);
      await B?.page.screenshot({ path: shot('failure-profile-bob') }).catch(() => undefined);
      throw error;
    }
  });
}

const message = (page: Page, text: string) => page.locator('[data-testid="message"]', { hasText: text });
const composer = (page: Page, name = `Message #${roomName}`) => page.getByRole('textbox', { name });
const exactly = (text: string) => new RegExp(`^${text}$`);
const memberNamed = (page: Page, name: string) => page.locator('[data-testid="member"]').filter({ has: page.locator('.member-name', { hasText: exactly(name) }) });
const initials = (name: string) => name.split(' ').map((part) => part[0]).join('');
const dmLink = (page: Page, name: string) => page.getByRole('list', { name: 'Direct messages' }).getByRole('link', { name: new RegExp(name) });

async function send(page: Page, text: string, box = composer(page)) {
  await box.fill(text);
  await box.press('Enter');
  await message(page, text).first().waitFor();
}

/** Where Bob's app shows Alice: each must show `name`. */
async function bobSeesAliceAs(name: string, timeout: number): Promise<void> {
  const page = B.page;
  await message(page, aliceSays).locator('.message-sender', { hasText: exactly(name) }).waitFor({ timeout });
  await message(page, aliceSays).locator('.avatar-initials', { hasText: exactly(initials(name)) }).waitFor({ timeout });
  await memberNamed(page, name).waitFor({ timeout });
  await message(page, bobSays).getByTestId('receipt').getByText(`Seen by ${name}`, { exact: true }).waitFor({ timeout });
  await dmLink(page, name).locator('.room-link-name', { hasText: exactly(name) }).waitFor({ timeout });
}

describe(`a profile change seen live by others, at ${BASE_URL}`, { concurrency: 1 }, () => {
  before(async () => {
    await waitForServer(15_000);
    browser = await launch();
    A = await newUser(browser, 'alice');
    B = await newUser(browser, 'bob');
    B.page.on('websocket', (ws) =>
      ws.on('framereceived', (frame) => {
        const data = JSON.parse(String(frame.payload)) as { type?: string };
        if (data.type === 'user_updated') bobsUserUpdates.push(data as (typeof bobsUserUpdates)[number]);
      }),
    );
  });

  after(async () => {
    await browser?.close();
    stopIsolation();
  });

  step('Alice and Bob share a room, a message each way (read by Alice) and a DM', async () => {
    await register(A.page, alice);
    await register(B.page, bob);

    await A.page.getByRole('button', { name: 'New room' }).first().click();
    await A.page.getByLabel('Room name').fill(roomName);
    await A.page.getByRole('button', { name: 'Create room' }).click();
    await A.page.waitForURL(/\/rooms\/[0-9a-f-]+$/);
    const roomId = A.page.url().split('/rooms/')[1];
    await B.page.getByRole('link', { name: 'Browse rooms' }).click();
    await B.page.getByLabel('Search public rooms').fill(roomName);
    await B.page.getByRole('button', { name: `Join ${roomName}` }).click();
    await B.page.waitForURL(`**/rooms/${roomId}`);
    await A.page.getByRole('button', { name: 'Members (2)' }).waitFor();

    await send(A.page, aliceSays);
    await message(B.page, aliceSays).waitFor();
    await send(B.page, bobSays);
    await message(A.page, bobSays).waitFor();

    await A.page.getByRole('button', { name: 'New message' }).click();
    await A.page.getByLabel('Find a person').fill(bob.username);
    await A.page.getByRole('button', { name: `Message ${bob.display}` }).click();
    await A.page.getByRole('heading', { name: bob.display }).waitFor();
    await send(A.page, dmSays, composer(A.page, `Message ${bob.display}`));
    await dmLink(B.page, alice.display).filter({ hasText: dmSays }).waitFor();

    // Bob's view before the change: the room, its member list open (the default at 1280 px).
    await B.page.getByRole('complementary', { name: 'Members' }).waitFor();
    await bobSeesAliceAs(alice.display, LIVE_MS);
  });

  step('Alice renames herself in Settings → Profile; Bob sees the new name everywhere without reloading', async () => {
    // Marks this document: a reload or navigation in Bob's tab would lose it.
    await B.page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    await A.page.getByRole('link', { name: /Your profile and settings/ }).click();
    await A.page.getByRole('heading', { name: 'Profile', exact: true }).waitFor();
    await A.page.getByLabel('Display name', { exact: true }).fill(renamed.display);
    await A.page.getByLabel('Status', { exact: true }).fill(renamed.status);
    await A.page.getByRole('button', { name: 'Save profile' }).click();
    await A.page.locator('.toast', { hasText: 'Profile saved.' }).waitFor();
    await A.page.getByRole('link', { name: `Your profile and settings (${renamed.display})` }).waitFor();

    await bobSeesAliceAs(renamed.display, LIVE_MS);
    await memberNamed(B.page, renamed.display).getByText(renamed.status, { exact: true }).waitFor({ timeout: LIVE_MS });
    // The DM is named after her and still previews her message.
    assert.match((await dmLink(B.page, renamed.display).textContent()) ?? '', new RegExp(dmSays));

    const shown = await B.page.evaluate(() => document.body.innerText);
    assert.ok(!shown.includes(alice.display), `no trace of the old name in Bob's app:\n${shown}`);
    assert.equal(await B.page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument), true, 'Bob’s tab was not reloaded');
    assert.equal(bobsUserUpdates.length, 1, `one user_updated frame for one change (got ${JSON.stringify(bobsUserUpdates)})`);
    assert.equal(bobsUserUpdates[0].user.display_name, renamed.display);
    assert.equal(bobsUserUpdates[0].user.status_text, renamed.status);
  });

  step('screenshots of Bob’s view after the rename: light, dark, 390 px (room, list, DM)', async () => {
    const page = B.page;
    await page.mouse.move(0, 0);
    // animations: 'disabled' finishes the theme's colour transitions before the capture.
    await page.screenshot({ path: shot('15-renamed-bob-light'), animations: 'disabled' });
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.screenshot({ path: shot('16-renamed-bob-dark'), animations: 'disabled' });
    await page.emulateMedia({ colorScheme: 'light' });

    await page.setViewportSize({ width: 390, height: 844 });
    await message(page, aliceSays).waitFor();
    await page.screenshot({ path: shot('17-renamed-bob-phone-room'), animations: 'disabled' });
    await page.getByRole('link', { name: 'Back to conversations' }).click();
    await dmLink(page, renamed.display).waitFor();
    await page.screenshot({ path: shot('18-renamed-bob-phone-list'), animations: 'disabled' });
    await dmLink(page, renamed.display).click();
    await page.getByRole('heading', { name: renamed.display, exact: true }).waitFor();
    await message(page, dmSays).waitFor();
    await page.screenshot({ path: shot('19-renamed-bob-phone-dm'), animations: 'disabled' });
  });

  step('no unexpected console errors in any browser', async () => {
    const errors = unexpectedConsoleErrors();
    assert.deepEqual(
      errors.map((e) => `[${e.who}] ${e.type}: ${e.text} ${e.url}`),
      [],
      'console errors',
    );
  });
});
