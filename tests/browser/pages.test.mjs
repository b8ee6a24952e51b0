// Every page of both roles, with homework in it, checked by axe-core for serious or critical
// accessibility violations at phone and laptop width; and usable by keyboard alone. With
// BETWEEN_SCREENSHOTS=DIR it also saves the screenshots the docs show.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { Practice, launchBrowser, until, screenshot } from "./harness.mjs";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

let practice, browser, samApp, drApp, doc, ids;

before(async () => {
  practice = new Practice();
  await practice.setUp();
  await practice.between("dr", ["-c", "Sam", "assignment", "create", "-t", "phq-9", "--every", "once:+0"]);
  await practice.between("dr", ["-c", "Sam", "goal", "create", "Sleep better", "--step", "No phone in bed", "--step", "Up at 7"]);
  await practice.between("dr", ["sync"]);
  await practice.between("laptop", ["sync"]);
  const set = (pairs) => pairs.flatMap((p) => ["--set", p]);
  for (const mood of [4, 5, 7]) await practice.between("laptop", ["entry", "new", "--template", "mood-check-in", ...set([`mood=${mood}`])]);
  await practice.between("laptop", ["entry", "new", "thought-record", ...set([
    "situation=My manager walked past without saying hello.", "emotions=anxious=70", "thoughts=*She is about to let me go=80",
    "distortions=catastrophising,mind-reading", "balanced_thought=She was on her way to a meeting.", "balanced_belief=70", "emotions_after=anxious=30"])]);
  const items = Array.from({ length: 9 }, (_, i) => `item_${i + 1}=${i === 8 ? 1 : 1}`);
  await practice.between("laptop", ["entry", "new", "phq-9", ...set(items)]);
  await practice.between("laptop", ["entry", "new", "--template", "journal", "--private", ...set(["text=Only for me."])]);
  await practice.between("laptop", ["sync"]);
  await practice.between("dr", ["sync"]);
  const list = await practice.json("laptop", ["list"]);
  doc = list.meta.document_id;
  const find = (template) => Object.entries(list.entries).find(([, e]) => e.template === template)[0];
  ids = { thought: find("thought-record"), phq: find("phq-9"), assignment: Object.entries(list.assignments).find(([, a]) => a.template === "thought-record")[0] };
  samApp = await practice.startApp("laptop");
  drApp = await practice.startApp("dr");
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  await practice.close();
});

async function axe(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => window.axe.run(document));
  // A check that found nothing to check would pass anything.
  assert.ok(result.passes.length > 10, `axe checked only ${result.passes.length} rules`);
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
}

/** Signs a browser in to `app` once, then checks each page at each width. */
async function checkPages(app, pages, widths, prefix) {
  // axe is injected as a script, which the app's Content-Security-Policy would refuse.
  const context = await browser.newContext({ viewport: { width: widths[0], height: 900 }, bypassCSP: true });
  const page = await context.newPage();
  await page.goto(app.url);
  await page.locator("main h1").first().waitFor();
  const problems = [];
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 });
    for (const [name, hash, ready] of pages) {
      await page.goto(`${app.base}/${hash}`);
      await page.getByText(ready).first().waitFor();
      await page.waitForLoadState("networkidle");
      for (const violation of await axe(page)) problems.push(`${name} at ${width}px: ${violation}`);
      if (width <= 400) {
        const wide = await page.evaluate(() => document.documentElement.scrollWidth);
        if (wide > width) problems.push(`${name} is ${wide}px wide at ${width}px`);
      }
      await screenshot(page, `${prefix}-${name}-${width}`);
    }
  }
  await context.close();
  return problems;
}

test("the client's pages have no serious accessibility violations, at phone and laptop width", async () => {
  const pages = [
    ["today", "#/", "Your homework"],
    ["week", "#/week", "Back to today"],
    ["entries", "#/entries", "Write something new"],
    ["new-entry", `#/new/${ids.assignment}`, "Who sees this entry?"],
    ["thought-record", `#/entry/${ids.thought}`, "The whole entry"],
    ["phq-9", `#/entry/${ids.phq}`, "Score:"],
    ["goals", "#/plan", "Sleep better"],
    ["progress", "#/progress", "Homework kept up"],
    ["privacy", "#/privacy", "Safety numbers"],
    ["help-now", "#/help", "This page works without a network"],
  ];
  const problems = await checkPages(samApp, pages, [390, 1280], "client");
  assert.deepEqual(problems, []);
});

test("the therapist's pages have no serious accessibility violations", async () => {
  const pages = [
    ["caseload", "#/", "Your clients"],
    ["client", `#/d/${doc}`, "Assign homework"],
    ["entry", `#/d/${doc}/entry/${ids.thought}`, "Comment on this"],
    ["assign", `#/d/${doc}/assign`, "Instructions for your client"],
    ["progress", `#/d/${doc}/progress`, "Homework kept up"],
    ["privacy", "#/privacy", "Safety numbers"],
  ];
  const problems = await checkPages(drApp, pages, [1280, 390], "therapist");
  assert.deepEqual(problems, []);
});

test("the progress charts are in the page, each described in words for a screen reader", async () => {
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const app = await practice.startApp("laptop");
  await page.goto(app.url);
  await page.goto(`${app.base}/#/progress`);
  await page.getByText("Homework kept up").waitFor();
  const charts = page.locator("figure svg[role='img']");
  assert.ok(await charts.count() >= 4, "mood, calendar, PHQ-9 and thinking traps");
  const mood = await page.locator("figure svg desc").first().textContent();
  assert.match(mood, /^Mood, 1 day recorded .*latest 5\.3 of 10/);
});

test("a PHQ-9 with item 9 above 0 shows its score, band and where to get help now", async () => {
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const app = await practice.startApp("laptop");
  await page.goto(app.url);
  await page.goto(`${app.base}/#/entry/${ids.phq}`);
  await page.getByText("Score: 9 of 27 — mild.").waitFor();
  await page.getByRole("heading", { name: "If you need help now" }).waitFor();
  assert.match(await page.locator(".help-now").textContent(), /emergency number/);
  // The answers show their words, not only numbers.
  await page.getByText("Several days (1)").first().waitFor();
});

test("PHQ-9 item 9 answered above 0 shows where to get help at once, before finishing", async () => {
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  const app = await practice.startApp("laptop");
  await page.goto(app.url);
  await page.goto(`${app.base}/#/new/template:phq-9`);
  await page.getByRole("button", { name: "Start writing" }).click();
  await page.locator("#f-item_1-0").waitFor();
  assert.equal(await page.getByRole("heading", { name: "If you need help now" }).count(), 0);
  await page.locator("#f-item_9-1").check();
  await page.getByRole("heading", { name: "If you need help now" }).waitFor({ timeout: 10000 });
  assert.match(await page.locator(".help-now").first().textContent(), /emergency number/);
});

test("keyboard only: from the today page to a saved answer, without a mouse", async () => {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  const app = await practice.startApp("laptop");
  await page.goto(app.url);
  await page.getByRole("heading", { name: "Your homework" }).waitFor();
  // Tab to "Start CBT thought record" and open it.
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press("Tab");
    // Done once today already, so it offers to do it again.
    const name = await page.evaluate(() => document.activeElement && document.activeElement.textContent);
    if (name === "Do CBT thought record again") break;
  }
  await page.keyboard.press("Enter");
  await page.getByText("Who sees this entry?").waitFor();
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press("Tab");
    if (await page.evaluate(() => document.activeElement && document.activeElement.textContent === "Start writing")) break;
  }
  await page.keyboard.press("Enter");
  await page.locator("#f-situation").waitFor();
  await until("focus to reach the first question", async () => {
    await page.keyboard.press("Tab");
    return page.evaluate(() => document.activeElement && document.activeElement.id === "f-situation");
  });
  await page.keyboard.type("Typed without a mouse.");
  await page.keyboard.press("Tab");
  const id = decodeURIComponent(new URL(page.url()).hash.split("/").pop());
  await until("the answer stored", async () => {
    const list = await practice.json("laptop", ["list"]);
    return list.entries[id] && list.entries[id].values.situation && list.entries[id].values.situation.value === "Typed without a mouse.";
  });
});
