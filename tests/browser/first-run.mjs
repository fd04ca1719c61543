// The first-run journey in headless Chromium, on a server with no trained run and an empty
// gallery: enroll three products from the page ("Add a sneaker": token, details, photos), then
// upload a new photo of one of them and see it named on a product card, and upload a picture of
// no shoe and see that said. Run by crates/serve/tests/browser.rs, which starts the server.
//
//   SNEAKER_ID_URL   the page, e.g. http://127.0.0.1:41234/
//   ENROLL_TOKEN     the enrolment token the server printed
//   PRODUCTS         JSON: [{name, brand, colorway, style_id, photos: [paths]}]
//   QUERY_PHOTO      another photo of one product; QUERY_NAME its name
//   NOT_A_SHOE       a picture with no shoe in it
//   CHROMIUM         the browser binary (default /usr/bin/chromium)
//   SCREENSHOT_DIR   where first-run-*.png go
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = process.env;
const url = env.SNEAKER_ID_URL;
assert.ok(url && env.ENROLL_TOKEN && env.PRODUCTS && env.QUERY_PHOTO && env.QUERY_NAME && env.NOT_A_SHOE, "missing settings");
const products = JSON.parse(env.PRODUCTS);
const shots = env.SCREENSHOT_DIR || join(tmpdir(), "sneaker-id-screenshots");
mkdirSync(shots, { recursive: true });

const userDataDir = join(tmpdir(), `sneaker-id-first-run-${process.pid}`);
const browser = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
const step = (what) => console.log(`first run: ${what}`);

try {
  const page = browser.pages()[0] || (await browser.newPage());
  const failed = [];
  page.on("pageerror", (e) => failed.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => failed.push(r.url()));

  await page.goto(url);
  const notice = await page.locator("#notice").innerText();
  assert.match(notice, /Add a sneaker/);
  assert.match(notice, /sneaker-id serve --catalog/);
  const form = page.locator("#enroll");
  await form.getByRole("heading", { name: "Add a sneaker" }).waitFor();
  assert.ok(await page.locator("#token-row").isVisible(), "the page asks for the token");
  step("page loaded, enrolment form shown");

  const fill = async (p) => {
    await page.getByLabel("Product name").fill(p.name);
    await page.getByLabel("Brand").fill(p.brand);
    await page.getByLabel("Colourway").fill(p.colorway);
    await page.getByLabel("Style id").fill(p.style_id);
    await page.setInputFiles("#enroll-files", p.photos);
    assert.equal(await page.locator("#enroll-preview img").count(), p.photos.length, "a preview per photo");
  };

  // A wrong token: a clear message, nothing enrolled, the photos still chosen.
  await page.getByLabel("Enrolment token").fill("not-the-token");
  await fill(products[0]);
  await page.getByRole("button", { name: "Add to gallery" }).click();
  await page.locator("#enroll-error").waitFor({ state: "visible", timeout: 30000 });
  assert.match(await page.locator("#enroll-error").innerText(), /Wrong enrolment token/);
  assert.equal(await page.locator("#enroll-preview img").count(), products[0].photos.length);
  step("wrong token refused with a clear message");

  for (const [i, p] of products.entries()) {
    if (i === 0) {
      await page.getByLabel("Enrolment token").fill(env.ENROLL_TOKEN);
    } else {
      assert.ok(await page.locator("#token-row").isHidden(), "the token is asked for once");
      await fill(p);
    }
    await page.getByRole("button", { name: "Add to gallery" }).click();
    await page.locator("#enroll-status").filter({ hasText: `Added ${p.name}: ${p.photos.length} photos` }).waitFor({ timeout: 60000 });
    assert.ok(await page.locator("#enroll-error").isHidden());
    assert.equal(await page.locator("#enroll-preview img").count(), 0, "the form is cleared");
    step(`enrolled ${p.name}`);
  }

  // A new photo of one product: named on the product card with its details and nearest photo.
  await page.setInputFiles("#file-input", env.QUERY_PHOTO);
  await page.locator("#result").waitFor({ state: "visible", timeout: 30000 });
  const verdict = (await page.locator("#verdict").innerText()).trim();
  assert.equal(verdict, env.QUERY_NAME, `the page named ${verdict}`);
  assert.equal(await page.locator("#verdict").getAttribute("class"), "match");
  const asked = products.find((p) => p.name === env.QUERY_NAME);
  const details = await page.locator("#card-details").innerText();
  for (const part of [asked.brand, asked.colorway, asked.style_id]) assert.ok(details.includes(part), `card details ${details}`);
  const photo = page.locator("#card-photo");
  assert.ok(await photo.isVisible(), "the nearest enrolled photo is shown");
  assert.match(await photo.getAttribute("src"), /^\/api\/v1\/gallery\/photos\/\d+$/);
  await page.waitForFunction(() => document.getElementById("card-photo").complete);
  const [w, h] = await photo.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
  assert.ok(w > 0 && w <= 320 && h <= 320, `thumbnail ${w}x${h}`);
  assert.ok((await page.locator("#predictions li").count()) >= 3, "the other matches are listed");
  step(`new photo named "${verdict}" (${details})`);
  await page.screenshot({ path: join(shots, "first-run-match.png"), fullPage: true });

  // Something that is not a shoe.
  await page.setInputFiles("#file-input", env.NOT_A_SHOE);
  await page.locator("#verdict").filter({ hasText: "does not look like a sneaker" }).waitFor({ timeout: 30000 });
  assert.equal(await page.locator("#verdict").getAttribute("class"), "not_a_sneaker");
  assert.ok(await page.locator("#card-photo").isHidden(), "no product photo for a non-shoe");
  assert.ok(await page.locator("#predictions").isHidden(), "no enrolled products ranked against a non-shoe");
  step("non-shoe picture: said so");
  await page.screenshot({ path: join(shots, "first-run-not-a-shoe.png"), fullPage: true });

  // The token link the server prints: kept by the page and removed from the address bar.
  await page.evaluate(() => localStorage.clear());
  await page.goto(url + "?token=" + encodeURIComponent(env.ENROLL_TOKEN));
  assert.ok(!page.url().includes("token="), `the token stays in the address bar: ${page.url()}`);
  assert.ok(await page.locator("#token-row").isHidden(), "a token from the link is kept");
  step("token link ok");

  assert.deepEqual(failed, [], "requests failed or scripts threw");
  console.log(`first run: all checks passed; screenshots in ${shots}`);
} finally {
  await browser.close();
}
