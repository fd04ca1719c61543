// Drives the sneaker-id page in headless Chromium: upload a real shoe photo and see the results,
// drop a photo, upload a text file and see the error, check labels and keyboard reach, and take
// desktop and phone screenshots. Run by crates/serve/tests/browser.rs, which starts the server.
//
//   SNEAKER_ID_URL   the page, e.g. http://127.0.0.1:41234/
//   SHOE_PHOTO       a real shoe photo (JPEG)
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   SCREENSHOT_DIR   where desktop.png and phone.png go
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.SNEAKER_ID_URL;
const shoe = process.env.SHOE_PHOTO;
const shots = process.env.SCREENSHOT_DIR || join(tmpdir(), "sneaker-id-screenshots");
assert.ok(url && shoe, "SNEAKER_ID_URL and SHOE_PHOTO must be set");
mkdirSync(shots, { recursive: true });

const userDataDir = join(tmpdir(), `sneaker-id-chromium-${process.pid}`);
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
const step = (what) => console.log(`browser: ${what}`);

try {
  const page = browser.pages()[0] || (await browser.newPage());
  const failed = [];
  page.on("requestfailed", (r) => failed.push(r.url()));
  page.on("pageerror", (e) => failed.push(`page error: ${e.message}`));
  // Only the server itself may be contacted: no CDN, no remote fonts.
  const origin = new URL(url).origin;
  const foreign = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) foreign.push(r.url());
  });

  await page.goto(url);
  assert.match(await page.title(), /sneaker-id/);
  step("page loaded");

  // Every control has a label; the photo picker is reachable from the keyboard.
  await page.getByLabel("Choose a photo").waitFor({ state: "attached" });
  await page.getByLabel("Take a photo").waitFor({ state: "attached" });
  await page.getByLabel("Matches to show").waitFor();
  let reached = false;
  for (let i = 0; i < 15 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement && document.activeElement.id === "file-input");
  }
  assert.ok(reached, "Tab never reaches the photo picker");
  step("labels and keyboard ok");

  // 1. A real shoe photo through the file picker.
  await page.getByLabel("Matches to show").selectOption("5");
  await page.setInputFiles("#file-input", shoe);
  await page.locator("#result").waitFor({ state: "visible", timeout: 30000 });
  const verdict = await page.locator("#verdict").innerText();
  assert.match(verdict, /Footwear: \d+/, `unexpected verdict ${verdict}`);
  assert.equal(await page.locator("#predictions li").count(), 5);
  const first = await page.locator("#predictions li .name").first().innerText();
  assert.match(first, /running shoe|loafer|clog|sandal|cowboy boot/i, `top match ${first}`);
  const seen = await page.locator("#seen").getAttribute("src");
  assert.ok(seen && seen.startsWith("data:image/jpeg;base64,"), "the model's view is shown");
  const natural = await page.locator("#seen").evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.deepEqual(natural, [224, 224]);
  assert.ok(await page.locator("#error").isHidden());
  step(`shoe photo: "${verdict}", top match "${first}"`);
  await page.screenshot({ path: join(shots, "desktop.png"), fullPage: true });

  // 2. The same photo dropped on the drop zone.
  const bytes = readFileSync(shoe).toString("base64");
  const dataTransfer = await page.evaluateHandle((b64) => {
    const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([raw], "dropped.jpg", { type: "image/jpeg" }));
    return dt;
  }, bytes);
  await page.locator("#status").evaluate((el) => (el.textContent = ""));
  await page.locator("#timings").evaluate((el) => (el.textContent = ""));
  await page.dispatchEvent("#drop-zone", "drop", { dataTransfer });
  await page.locator("#timings").filter({ hasText: "Decode" }).waitFor({ timeout: 30000 });
  step("drop ok");

  // 2b. The background-removal switch: the request asks for it and the preview is the cut-out.
  const removal = page.getByLabel("Remove the background first");
  await removal.check();
  const [sent] = await Promise.all([
    page.waitForRequest((r) => r.url().includes("/api/v1/identify")),
    page.setInputFiles("#file-input", shoe),
  ]);
  assert.match(sent.url(), /remove_background=true/);
  await page.locator("#seen-caption").filter({ hasText: "background removed" }).waitFor({ timeout: 30000 });
  await removal.uncheck();
  step("background removal switch ok");

  // 3. A text file: a clear error, no result.
  const text = join(tmpdir(), `notes-${process.pid}.txt`);
  writeFileSync(text, "shopping list: laces, socks\n");
  await page.setInputFiles("#file-input", text);
  await page.locator("#error").waitFor({ state: "visible", timeout: 30000 });
  const error = await page.locator("#error").innerText();
  assert.match(error, /not an image/, `error shown: ${error}`);
  assert.match(error, /notes-\d+\.txt/, "the error names the file");
  assert.ok(await page.locator("#result").isHidden(), "no stale result next to the error");
  step(`text file: "${error}"`);

  // 4. Phone-sized screen: no horizontal scrolling, result readable.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.setInputFiles("#file-input", shoe);
  await page.locator("#result").waitFor({ state: "visible", timeout: 30000 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than a phone screen`);
  await page.screenshot({ path: join(shots, "phone.png"), fullPage: true });
  step("phone layout ok");

  assert.deepEqual(foreign, [], "the page contacted other hosts");
  assert.deepEqual(failed, [], "requests failed or scripts threw");
  console.log(`browser: all checks passed; screenshots in ${shots}`);
} finally {
  await browser.close();
}
